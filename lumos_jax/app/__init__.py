# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The web app of `python -m lumos_jax app`: `service` generates, `ui` is the Gradio page."""
