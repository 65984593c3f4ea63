# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Shared test setup: CPU only; multi-device tests start their own subprocess (parallel_test)."""

import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
