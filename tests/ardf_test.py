# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""AR-DF schedules, training-mask statistics and rules, the history pattern (spec 6.3-6.6, 7.6)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lumos_jax import ardf, layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.vocab import IGNORE

V = vocab_lib.lumos1()
H, W = 4, 8
ELL = H * (W + 1)  # content length of one frame, new-lines included
RNG = np.random.default_rng(0)


def _item(frames=3, given=0, unconditional=False):
  codes = [RNG.integers(0, V.codebook_size, (H, W)) for _ in range(frames)]
  return layout.build_item(
      [100, 200, 300],
      codes,
      V,
      duration=1,
      fps=12,
      num_given_frames=given,
      unconditional=unconditional,
  )


def _content_starts(tokens):
  return np.flatnonzero(tokens == V.image_start) + 3


def _draw(labels, n, **kw):
  keys = jax.random.split(jax.random.key(0), n)
  batch = jnp.asarray(np.broadcast_to(labels, (n, len(labels))))
  return np.asarray(jax.vmap(lambda k, l: ardf.training_mask(k, l[None], V, **kw)[0])(keys, batch))


def test_schedules_by_hand():
  t = jnp.array([0.0, 0.5, 1.0])
  np.testing.assert_allclose(
      ardf.schedule('cosine', t), [1.0, math.cos(math.pi / 4), 0.0], atol=1e-7
  )
  np.testing.assert_allclose(ardf.schedule('linear', t), [1.0, 0.5, 1e-6], atol=1e-7)
  np.testing.assert_allclose(ardf.schedule('pow2', t), [1.0, 0.75, 1e-6], atol=1e-7)
  sig = lambda x: 1 / (1 + math.exp(-x))
  mid = (sig(3) - sig(0)) / (sig(3) - sig(-3))
  np.testing.assert_allclose(ardf.schedule('sigmoid', t), [1.0, mid, 1e-6], atol=1e-6)
  with pytest.raises(ValueError, match='ardf.schedule'):
    ardf.schedule('cubic', t)


def test_maskable_positions_by_hand():
  item = _item(frames=2)
  maskable = np.asarray(ardf.maskable_positions(jnp.asarray(item.labels[None]), V))[0]
  want = np.zeros(len(item.tokens), bool)
  for s in _content_starts(item.tokens):
    want[s : s + ELL] = True  # codes and new-lines, not the header or image_end
  np.testing.assert_array_equal(maskable, want)


def test_tube_ratio_distribution_and_pattern():
  item = _item(frames=3)
  masks = _draw(item.labels, 1000)
  starts = _content_starts(item.tokens)
  frames = np.stack([masks[:, s : s + ELL] for s in starts], axis=1)  # [n, 3, ELL]
  # the same spatial pattern in every frame
  assert (frames == frames[:, :1]).all()
  counts = frames[:, 0].sum(-1)
  k_min = round(0.7 * ELL)  # 25 of 36
  assert counts.min() == k_min and counts.max() <= ELL
  # P(r clipped to 0.7) = 1 - (2/pi) acos(0.7) ~ 0.494 (+ draws that round to the same count)
  p_clip = 1 - 2 / math.pi * math.acos(0.7)
  assert abs(np.mean(counts == k_min) - p_clip) < 0.05
  # mean ratio = E[max(cos(pi t / 2), 0.7)]
  t0 = 2 / math.pi * math.acos(0.7)
  mean_ratio = 2 / math.pi * math.sin(math.pi / 2 * t0) + 0.7 * (1 - t0)
  assert abs(counts.mean() / ELL - mean_ratio) < 0.01
  # patterns are random: every position is masked sometimes and unmasked sometimes
  freq = frames[:, 0].mean(0)
  assert freq.min() > 0.6 and freq.max() < 0.95


def test_text_header_and_given_frames_are_never_masked():
  item = _item(frames=3, given=1)
  masks = _draw(item.labels, 300)
  starts = _content_starts(item.tokens)
  allowed = np.zeros(len(item.tokens), bool)
  for s in starts[1:]:
    allowed[s : s + ELL] = True
  assert not masks[:, ~allowed].any()
  inputs, labels = ardf.apply_mask(
      jnp.asarray(item.tokens[None]), jnp.asarray(item.labels[None]), jnp.asarray(masks[:1]), V
  )
  inputs, labels = np.asarray(inputs)[0], np.asarray(labels)[0]
  np.testing.assert_array_equal(inputs[~masks[0]], item.tokens[~masks[0]])
  assert (inputs[masks[0]] == V.mask).all()
  np.testing.assert_array_equal(labels[masks[0]], item.tokens[masks[0]])
  assert (labels[allowed & ~masks[0]] == IGNORE).all()
  # loss targets: masked visual codes only; a masked new-line keeps label 8803, not a visual id
  targets = V.is_visual(labels)
  assert not (targets & ~masks[0]).any()
  assert (labels[masks[0] & ~targets] == V.newline).all()


def test_unconditional_items_are_masked_the_same_way():
  item = _item(frames=2, unconditional=True)
  masks = _draw(item.labels, 50)
  starts = _content_starts(item.tokens)
  assert (masks[:, starts[0] : starts[0] + ELL] == masks[:, starts[1] : starts[1] + ELL]).all()
  assert masks.sum(-1).min() >= 2 * round(0.7 * ELL)


def test_tube_decay_is_nested_and_ends_fully_masked():
  item = _item(frames=3)
  masks = _draw(item.labels, 200, mask_type='tube_decay')
  f = np.stack([masks[:, s : s + ELL] for s in _content_starts(item.tokens)], axis=1)
  assert (f[:, 0] <= f[:, 1]).all() and (f[:, 1] <= f[:, 2]).all()
  assert f[:, 2].all()
  assert f[:, 0].sum(-1).min() == round(0.7 * ELL)


def test_diffusion_forcing_draws_each_frame_independently():
  item = _item(frames=3)
  masks = _draw(item.labels, 500, mask_type='diffusion_forcing')
  f = np.stack([masks[:, s : s + ELL] for s in _content_starts(item.tokens)], axis=1)
  counts = f.sum(-1)
  assert counts.min() == round(0.7 * ELL) and counts.max() <= ELL
  assert np.mean(counts[:, 0] != counts[:, 1]) > 0.3  # independent ratios
  same_pattern = (
      (f[:, 0] == f[:, 1]).all(-1) & (counts[:, 0] == counts[:, 1]) & (counts[:, 0] < ELL)
  )
  assert same_pattern.mean() < 0.05  # independent patterns


def test_random_masks_count_over_all_frames():
  item = _item(frames=3)
  masks = _draw(item.labels, 300, mask_type='random')
  total = 3 * ELL
  assert masks.sum(-1).min() == round(0.7 * total)
  f = np.stack([masks[:, s : s + ELL] for s in _content_starts(item.tokens)], axis=1)
  partial = masks.sum(-1) < total
  assert not (f == f[:, :1]).all(axis=(1, 2))[partial].any()  # not a tube


def test_masks_are_a_function_of_the_key():
  item = _item()
  labels = jnp.asarray(item.labels[None])
  a = ardf.training_mask(jax.random.key(3), labels, V)
  b = ardf.training_mask(jax.random.key(3), labels, V)
  c = ardf.training_mask(jax.random.key(4), labels, V)
  np.testing.assert_array_equal(a, b)
  assert (np.asarray(a) != np.asarray(c)).any()


def test_history_pattern_matches_spec_numbers():
  p = ardf.history_pattern(4080, 0.7)  # 384p frame content
  assert len(p) == 2856
  np.testing.assert_array_equal(p[:10], [0, 1, 3, 4, 6, 7, 9, 10, 11, 13])
  assert len(ardf.history_pattern(1824, 0.7)) == 1277  # 256p
  assert p.max() <= 4079 and len(np.unique(p)) == len(p)
  np.testing.assert_array_equal(ardf.history_pattern(10, 1.0), np.arange(10))
  with pytest.raises(ValueError):
    ardf.history_pattern(10, 0.0)
