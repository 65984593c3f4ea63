# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Loading a config file by path, as `--config=path.py:arg` does, without the flag machinery."""

from __future__ import annotations

import importlib.util
import pathlib

import ml_collections as mlc

from lumos_jax.errors import ConfigError


def load(spec: str) -> mlc.ConfigDict:
  """`get_config(arg)` of `path.py[:arg]`, e.g. load('configs/tiny.py:runlocal=True')."""
  path, _, arg = spec.partition(':')
  file = pathlib.Path(path)
  if not file.is_file():
    raise ConfigError(f'config file {file} not found')
  module_spec = importlib.util.spec_from_file_location(file.stem, file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)
