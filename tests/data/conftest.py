# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Fixtures for the data tests: the tiny config, pointed at a temporary data directory.

Tests change the ConfigDict (`tiny.data.batch_size = 4`) and hand the library its parsed
sections: `data, vocab = sections(tiny)`.
"""

import pytest

from lumos_jax import config as config_lib
from lumos_jax import testing


def tiny_config(data_dir) -> object:
  return testing.load_config('tiny', **{'data.dir': str(data_dir)})


def to_sections(config):
  """(data, vocab): the parsed `data` section and vocabulary of a ConfigDict."""
  c = config_lib.parse(config)
  return c.data, c.vocab


@pytest.fixture
def sections():
  """The parser of configs into sections: `data, vocab = sections(config)`."""
  return to_sections


@pytest.fixture
def make_tiny():
  """tiny config factory: make_tiny(data_dir)."""
  return tiny_config


@pytest.fixture(scope='session')
def prepared_tiny(tmp_path_factory):
  """The tiny config with its synthetic data prepared once per session (read-only for tests)."""
  from lumos_jax.data import prepare  # pylint: disable=g-import-not-at-top

  config = tiny_config(tmp_path_factory.mktemp('tiny_data'))
  prepare.prepare(*to_sections(config))
  return config


@pytest.fixture
def tiny(prepared_tiny):
  """A fresh copy of the prepared tiny config, free to modify."""
  return prepared_tiny.copy_and_resolve_references()
