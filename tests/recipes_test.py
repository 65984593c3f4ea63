# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""configs/: the official-shaped recipes (spec 6.8 / 6.10 values) and the driver sections."""

import importlib.util
import math
import pathlib
import sys

import jax
import pytest
from flax import nnx

from lumos_jax.model import create_model
from lumos_jax.train import loop

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import driver_testing  # pylint: disable=g-import-not-at-top,wrong-import-position

RECIPES = [f'lumos1_{s}_{t}' for s in ('0p5b', '1b', '3b')
           for t in ('stage1_image', 'stage2_joint')]
# Spec 6.10 lr = min_lr; 0.5B has no released script and follows 1B.
LR = {'0p5b_stage1': 5e-5, '1b_stage1': 5e-5, '3b_stage1': 1e-4, '0p5b_stage2': 2.5e-5,
      '1b_stage2': 2.5e-5, '3b_stage2': 2.5e-5}
SAVE_EVERY = {'1b_stage1': 3000, '3b_stage1': 1000, '1b_stage2': 1000, '3b_stage2': 1000}
PARAMS = {'0p5b': 0.59e9, '1b': 1.5e9, '3b': 3.6e9}  # with the untied 129,536-row embedding/head


def _load(name, arg=None):
  path = driver_testing.REPO / 'configs' / f'{name}.py'
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


@pytest.mark.parametrize('name', RECIPES)
def test_recipe_values(name):
  config = _load(name)
  size, stage = name.split('_')[1], name.split('_')[2]
  key = f'{size}_{stage}'
  settings, model = loop.build_settings(config)
  assert settings.vocab.size == 129536 and settings.vocab.visual_offset == 65536
  assert model.dtype == 'bfloat16' and model.param_dtype == 'float32'
  assert model.remat_policy == 'full' and model.head_dim % 32 == 0
  assert config.optim.learning_rate == config.optim.min_learning_rate == LR[key]
  assert (config.optim.weight_decay, config.optim.grad_clip_norm) == (0.1, 4.0)
  assert (config.optim.b1, config.optim.b2, config.optim.decay) == (0.9, 0.95, 'constant')
  assert (config.ardf.mask_type, config.ardf.schedule, config.ardf.min_masking_rate) == (
      'tube', 'cosine', 0.7)
  assert config.loss.z_loss_weight == 0.0 and config.seed == 0
  if key in SAVE_EVERY:
    assert config.checkpoint.every_steps == SAVE_EVERY[key]
  assert tuple(config.mesh.shape) == (1, -1, 1)  # FSDP full shard
  assert config.data.fps_duration == (((1, 1),) if stage == 'stage1' else ((12, 2),))
  assert config.data.batch_size == 48
  # warm-up 0.0025 epochs, 100 epochs
  assert config.optim.warmup_steps == 25 and config.train.num_steps == 100 * 10000
  abstract = nnx.eval_shape(lambda: create_model(model))
  count = sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
  assert abs(count - PARAMS[size]) < 0.1e9, count


def test_recipe_arguments():
  config = _load('lumos1_3b_stage2_joint', 'steps_per_epoch=400000,epochs=2,gpus=16')
  assert config.optim.warmup_steps == 1000 and config.train.num_steps == 800000
  assert config.data.batch_size == 16
  with pytest.raises(ValueError, match="unknown config argument 'step'"):
    _load('lumos1_1b_stage1_image', 'step=3')


@pytest.mark.parametrize('name', ['tiny', 'demo'])
def test_driver_sections(name):
  config = driver_testing.load_config(name)
  for key in ('num_steps', 'log_every', 'eval_every', 'eval_batches', 'max_nonfinite_in_a_row'):
    assert key in config.train
  assert {'every_steps', 'max_to_keep', 'async_save'} <= set(config.checkpoint)
  assert len(config.mesh.shape) == 3 and 'dir' in config.data and 'seed' in config
  loop.build_settings(config)
