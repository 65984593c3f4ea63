# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lumos_jax import layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.model import rope

V = vocab_lib.lumos1()


def test_mm_allocation_pattern_by_hand():
  axes = rope.frequency_axes(128, 'mm')  # 64 frequencies
  pattern = 'tttthhwwhhwwhhww'
  assert ''.join('thw'[a] for a in axes) == pattern * 4
  # t gets 1/4 of the spectrum, h and w 3/8 each
  assert np.bincount(axes).tolist() == [16, 24, 24]


def test_contiguous_allocation_by_hand():
  axes = rope.frequency_axes(64, '3d_contiguous')
  assert ''.join('thw'[a] for a in axes) == 't' * 8 + 'h' * 12 + 'w' * 12


def test_head_dim_must_be_multiple_of_32():
  with pytest.raises(ValueError, match='head_dim=48'):
    rope.frequency_axes(48)


def _worked_example_positions():
  frames = [np.zeros((4, 4), int)] * 2
  item = layout.build_item([100, 200], frames, V, duration=2, fps=12)
  return layout.mm_rope_positions(item.tokens, V)


def test_angles_match_spec_worked_example():
  """Spec 3.5 with D = 128: token 34 has (t, h, w) = (14, 10, 10); token 31 is 1-D at 31."""
  cos, sin = rope.mm_rope_cos_sin(_worked_example_positions(), 128, 10000.0)
  omega = 10000.0 ** (-np.arange(64) * 2 / 128)
  angle = np.arctan2(np.asarray(sin), np.asarray(cos))

  def check(token, channel, value):
    want = np.angle(np.exp(1j * omega[channel % 64] * value))  # wrapped to (-pi, pi]
    np.testing.assert_allclose(angle[token, channel], want, atol=1e-4)

  check(34, 0, 14)  # t
  check(34, 4, 10)  # h
  check(34, 6, 10)  # w
  check(34, 64, 14)  # pair of channel 0
  check(34, 70, 10)  # pair of channel 6
  for c in range(128):
    check(31, c, 31)


def test_rotation_keeps_norms():
  x = jax.random.normal(jax.random.key(0), (1, 57, 3, 64))
  p = _worked_example_positions()
  for variant in rope.VARIANTS:
    cos, sin = rope.rope_cos_sin(p, 64, 10000.0, variant)
    y = rope.apply_rope(x, cos[None], sin[None])
    np.testing.assert_allclose(jnp.linalg.norm(y, axis=-1), jnp.linalg.norm(x, axis=-1), rtol=1e-5)


def _score(variant, q, k, pos_q, pos_k, head_dim=64):
  """q.k after rotating q at positions pos_q and k at pos_k ((text, t, h, w, visual) tuples)."""

  def table(pos):
    text, t, h, w, vis = (jnp.asarray([v]) for v in pos)
    return rope.rope_cos_sin(
        layout.Positions(text, t, h, w, vis.astype(bool)), head_dim, 1e4, variant
    )

  cq, sq = table(pos_q)
  ck, sk = table(pos_k)
  rq = rope.apply_rope(q[None, None, None], cq[None], sq[None])
  rk = rope.apply_rope(k[None, None, None], ck[None], sk[None])
  return float(jnp.sum(rq * rk))


@pytest.mark.parametrize('variant', rope.VARIANTS)
def test_text_score_depends_only_on_offset(variant):
  q, k = jax.random.normal(jax.random.key(1), (2, 64))
  base = _score(variant, q, k, (7, 0, 0, 0, 0), (3, 0, 0, 0, 0))
  for shift in (1, 50, 1000):
    got = _score(variant, q, k, (7 + shift, 0, 0, 0, 0), (3 + shift, 0, 0, 0, 0))
    np.testing.assert_allclose(got, base, rtol=1e-4, atol=1e-4)
  assert abs(_score(variant, q, k, (8, 0, 0, 0, 0), (3, 0, 0, 0, 0)) - base) > 1e-3


@pytest.mark.parametrize('variant', ['mm', '3d_contiguous'])
def test_visual_score_is_relative_per_axis(variant):
  q, k = jax.random.normal(jax.random.key(2), (2, 64))
  base = _score(variant, q, k, (0, 14, 10, 18, 1), (0, 10, 26, 10, 1))
  for dt, dh, dw in ((4, 0, 0), (0, 8, 0), (0, 0, 16), (12, 40, 8)):
    got = _score(
        variant, q, k, (0, 14 + dt, 10 + dh, 18 + dw, 1), (0, 10 + dt, 26 + dh, 10 + dw, 1)
    )
    np.testing.assert_allclose(got, base, rtol=1e-4, atol=1e-4)
  # and each axis matters: moving only the key's w changes the score
  assert abs(_score(variant, q, k, (0, 14, 10, 18, 1), (0, 10, 26, 18, 1)) - base) > 1e-3


def test_1d_variant_ignores_3d_positions():
  p = _worked_example_positions()
  cos, _ = rope.rope_cos_sin(p, 64, 1e4, '1d')
  text_only = layout.Positions(p.text, p.text, p.text, p.text, np.zeros_like(p.is_visual))
  cos_text, _ = rope.mm_rope_cos_sin(text_only, 64, 1e4)
  np.testing.assert_allclose(cos, cos_text, atol=1e-6)


def test_axis_resolution_by_hand():
  # head_dim 32: frequencies 1e4^(-k/16); MM-RoPE puts t on k = 0..3, h on k = 4, 5, 8, 9, 12, 13
  # and w on k = 6, 7, 10, 11, 14, 15 (pattern tttthhwwhhwwhhww). The fastest h / w frequencies
  # times the stride 8: 8 * 1e4^(-4/16) = 0.8 and 8 * 1e4^(-6/16) = 0.2530.
  t, h, w = rope.axis_resolution(32, 1e4, (1, 8, 8))
  np.testing.assert_allclose([t, h, w], [1.0, 0.8, 8 * 1e4 ** (-6 / 16)], rtol=1e-6)
  # Base 100: k = 4 gives 8 * 100^(-4/16) = 2.53 (below pi); for w, k = 6 gives 8 * 100^(-6/16)
  # = 1.42. Official head_dim 128 with temporal stride 4: k = 0 and 1 turn by 4 and
  # 4 * 1e4^(-2/128) = 3.46 rad, both above pi (aliased); k = 2 gives 4 * 1e4^(-4/128) = 3.0.
  np.testing.assert_allclose(
      rope.axis_resolution(32, 100.0, (1, 8, 8))[1:],
      [8 * 100**-0.25, 8 * 100 ** (-6 / 16)],
      rtol=1e-6,
  )
  np.testing.assert_allclose(
      rope.axis_resolution(128, 1e4, (4, 8, 8))[0], 4 * 1e4 ** (-4 / 128), rtol=1e-6
  )
