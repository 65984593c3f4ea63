# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
import importlib.util
import pathlib

import numpy as np
import pytest

from lumos_jax import layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.model import config as config_lib
from lumos_jax.model import create_model, logits

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / 'configs'


def _load(name):
  spec = importlib.util.spec_from_file_location(name, CONFIGS / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


@pytest.mark.parametrize('name', ['tiny', 'demo'])
def test_config_builds_vocab_and_model(name):
  config = _load(name)
  vocab = vocab_lib.from_config(config.vocab)
  model_config = config_lib.from_config(config.model, vocab.size)
  assert model_config.vocab_size == vocab.size


def test_tiny_config_runs_a_forward_pass():
  config = _load('tiny')
  vocab = vocab_lib.from_config(config.vocab)
  model = create_model(config_lib.from_config(config.model, vocab.size))
  item = layout.t2i_item([vocab.byte_offset + 65], np.zeros((2, 2), int), vocab)
  out = logits(model, item.tokens[None], vocab)
  assert out.shape == (1, len(item.tokens), vocab.size) and np.isfinite(out).all()


def test_bad_sections_name_the_field():
  with pytest.raises(ValueError, match='vocab.preset'):
    vocab_lib.from_config({'preset': 'chameleon'})
  with pytest.raises(ValueError, match='model.vocab_size'):
    config_lib.from_config({**_load('tiny').model, 'vocab_size': 5}, 100)
