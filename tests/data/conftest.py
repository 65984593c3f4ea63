# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Fixtures for the data tests: the tiny config, pointed at a temporary data directory."""

import importlib.util
import pathlib

import pytest

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / 'configs'


def load_config(name: str = 'tiny'):
  spec = importlib.util.spec_from_file_location(f'_config_{name}', CONFIGS / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def tiny_config(data_dir) -> object:
  config = load_config('tiny')
  config.data.dir = str(data_dir)
  return config


@pytest.fixture
def make_tiny():
  """tiny config factory: make_tiny(data_dir)."""
  return tiny_config


@pytest.fixture(scope='session')
def prepared_tiny(tmp_path_factory):
  """The tiny config with its synthetic data prepared once per session (read-only for tests)."""
  from lumos_jax.data import prepare  # pylint: disable=g-import-not-at-top

  config = tiny_config(tmp_path_factory.mktemp('tiny_data'))
  prepare.prepare(config)
  return config


@pytest.fixture
def tiny(prepared_tiny):
  """A fresh copy of the prepared tiny config, free to modify."""
  return prepared_tiny.copy_and_resolve_references()
