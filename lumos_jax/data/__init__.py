# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Training data: synthetic captioned clips (`synthetic`), a user folder source (`user_source`),
TFDS/ArrayRecord records (`records`), versioned preparation (`prepare`) and the grain pipeline
(`pipeline`). See docs/data.md."""
