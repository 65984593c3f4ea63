# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Text and visual tokenizers behind small protocols, so that real ones plug in later."""
