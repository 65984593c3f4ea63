# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Configs: the base config (every key), presets' helpers, and `parse` into typed sections."""

from lumos_jax.config.args import parse_arg
from lumos_jax.config.base import get_config as base_config
from lumos_jax.config.loading import load
from lumos_jax.config.runlocal import runlocal
from lumos_jax.config.schema import Config, MeshConfig, SampleConfig, parse

__all__ = [
    'Config',
    'MeshConfig',
    'SampleConfig',
    'base_config',
    'load',
    'parse',
    'parse_arg',
    'runlocal',
]
