# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Prompt-adherence evaluation on the synthetic data."""
