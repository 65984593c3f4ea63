# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The AR-DF train step on one device: overfitting, metrics, determinism, memory, config errors."""

import re

import jax
import numpy as np
import pytest

from lumos_jax import config as config_lib
from lumos_jax import layout, train
from lumos_jax.errors import ConfigError
from lumos_jax import vocab as vocab_lib
from lumos_jax.model import ModelConfig
from lumos_jax.vocab import IGNORE


def _setup(codebook=64, optim=None, loss=None, embed=64, **model_kw):
  vocab = vocab_lib.demo(codebook_size=codebook)
  config = ModelConfig(
      vocab_size=vocab.size,
      embed_dim=embed,
      num_layers=2,
      num_heads=4,
      num_kv_heads=2,
      head_dim=32,
      mlp_dim=2 * embed,
      **model_kw,
  )
  optim = optim or train.OptimConfig(learning_rate=3e-3, min_learning_rate=3e-3, warmup_steps=10)
  tx = train.make_optimizer(optim)
  graphdef, state, _ = train.create_train_state(config, tx, seed=0)
  settings = train.StepSettings(
      graphdef,
      config,
      tx,
      train.learning_rate_schedule(optim),
      vocab,
      train.ARDFConfig(),
      loss or train.LossConfig(chunk_size=64, max_frames=4),
  )
  return vocab, settings, state


def _batch(vocab, n=4, frames=3, hw=(4, 4), seed=0):
  rng = np.random.default_rng(seed)
  items = [
      layout.build_item(
          [vocab.byte_offset + 1 + i] * 5,
          [rng.integers(0, vocab.codebook_size, hw) for _ in range(frames)],
          vocab,
          duration=frames,
          fps=1,
      )
      for i in range(n)
  ]
  width = max(len(i.tokens) for i in items)
  tokens = np.zeros((n, width), np.int32)
  labels = np.full((n, width), IGNORE, np.int32)
  for r, item in enumerate(items):
    tokens[r, : len(item.tokens)] = item.tokens
    labels[r, : len(item.labels)] = item.labels
  return dict(tokens=tokens, labels=labels)


def test_tiny_model_overfits_one_batch():
  vocab, settings, state = _setup()
  batch = _batch(vocab)
  step = train.compile_train_step(settings)
  losses = []
  for _ in range(200):
    state, metrics = step(state, batch)
    losses.append(float(metrics['loss']))
  assert losses[0] > 3.0  # ~log(64) at initialisation
  assert np.mean(losses[-10:]) < 0.1 * losses[0], losses[-10:]


def test_metrics():
  vocab, settings, state = _setup()
  batch = _batch(vocab)
  step = train.compile_train_step(settings)
  for i in range(3):
    state, m = step(state, batch)
    np.testing.assert_allclose(m['lr'], 3e-3 * i / 10, rtol=1e-6)  # linear warm-up from 0
  assert int(state.step) == 3
  assert m['frame_losses'].shape == (4,) and m['frame_counts'][3] == 0
  assert (np.asarray(m['frame_losses'][:3]) > 0).all()
  assert 0.7 <= float(m['mask_ratio']) <= 1.0
  lengths = [np.flatnonzero(row).max() + 1 for row in batch['tokens']]  # BOS counts, padding not
  assert int(m['tokens']) == sum(lengths)
  # Each row: BOS, 5 text, SEP, 3 header tokens (causal: 1 + ... + 10 keys), 3 frames of 24
  # tokens seeing up to their frame's end (keys 0..33, 0..57, 0..81), video end and SEP.
  assert float(m['attended_pairs']) == 4 * (55 + 24 * (34 + 58 + 82) + 83 + 84)
  assert np.isfinite(float(m['grad_norm'])) and float(m['grad_norm']) > 0
  # every frame-loss target is a masked visual code
  assert int(m['num_targets']) == int(np.asarray(m['frame_counts']).sum())


def test_same_state_gives_the_same_step():
  """Masks come from fold_in(rng, step): replaying a step from a saved state is exact."""
  vocab, settings, state = _setup()
  batch = _batch(vocab)
  step = jax.jit(lambda s, b: train.train_step(settings, s, b))
  a_state, a = step(state, batch)
  b_state, b = step(state, batch)
  np.testing.assert_array_equal(a['loss'], b['loss'])
  jax.tree.map(np.testing.assert_array_equal, a_state.params, b_state.params)
  _, c = step(a_state, batch)
  assert float(c['mask_ratio']) != float(a['mask_ratio']) or float(c['loss']) != float(a['loss'])


def _compiled(chunk):
  vocab, settings, state = _setup(
      codebook=8192, embed=32, loss=train.LossConfig(chunk_size=chunk, max_frames=4)
  )
  batch = _batch(vocab, n=2, frames=6, hw=(8, 8))  # L = 1 + 5 + 1 + 3 + 6 * 76 + 2 = 469
  lowered = jax.jit(lambda s, b: train.train_step(settings, s, b)).lower(state, batch)
  return lowered.compile(), batch['tokens'].shape


def test_step_never_materialises_full_logits():
  compiled, (b, length) = _compiled(chunk=64)
  hlo = compiled.as_text()
  for v in (8192, 8192 + 328):  # visual-only and full vocabulary
    assert not re.search(rf'f32\[{b},{length},{v}\]', hlo)
    assert not re.search(rf'f32\[{b * length},{v}\]', hlo)
  # one block of visual logits: 469 positions in 8 even blocks of 59 (at most 64), both rows
  assert re.search(r'f32\[118,8192\]', hlo)
  full_logits = b * length * 8192 * 4
  unchunked, _ = _compiled(chunk=512)  # one chunk covering the whole sequence
  saved = (
      unchunked.memory_analysis().temp_size_in_bytes - compiled.memory_analysis().temp_size_in_bytes
  )
  assert saved > 0.5 * full_logits, (saved, full_logits)


@pytest.mark.parametrize(
    'cls, kw, field',
    [
        (train.ARDFConfig, dict(mask_type='block'), 'ardf.mask_type'),
        (train.ARDFConfig, dict(min_masking_rate=1.5), 'ardf.min_masking_rate'),
        (train.ARDFConfig, dict(schedule='cubic'), 'ardf.schedule'),
        (train.OptimConfig, dict(decay='cosine', decay_steps=0), 'optim.decay_steps'),
        (train.OptimConfig, dict(learning_rate=-1.0), 'optim.learning_rate'),
        (train.LossConfig, dict(chunk_size=0), 'loss.chunk_size'),
    ],
)
def test_config_errors_name_the_field(cls, kw, field):
  with pytest.raises(ValueError, match=re.escape(field)):
    cls(**kw)
  section = field.split('.')[0]
  with pytest.raises(ConfigError, match=re.escape(f'config.{field}=')):
    config_lib.parse({section: kw})
  with pytest.raises(ConfigError, match=f'config.{section}.nope: unknown key'):
    config_lib.parse({section: {'nope': 1}})
