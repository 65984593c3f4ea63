# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Haar patching: band layout, the reflect pad for odd lengths, and the exact inverse."""

import jax
import numpy as np

from lumos_jax.tokenizers.cosmos import patching

# Jitted: eager dispatch compiles every small op for every shape.
patchify = jax.jit(patching.patchify, static_argnums=1)
unpatchify = jax.jit(patching.unpatchify, static_argnums=1)


def test_one_level_bands_by_hand():
  x = np.random.default_rng(0).normal(size=(1, 2, 2, 2, 3)).astype(np.float32)
  y = np.asarray(patching.haar_level(x))
  assert y.shape == (1, 1, 1, 1, 24)
  # Band 4*tau + 2*eta + omega; channel band*C + c; lll = the block mean.
  for band in range(8):
    signs = np.ones((2, 2, 2))
    for axis, bit in enumerate((band >> 2 & 1, band >> 1 & 1, band & 1)):
      if bit:
        index = [slice(None)] * 3
        index[axis] = 1
        signs[tuple(index)] *= -1
    want = np.einsum('thw,thwc->c', signs, x[0]) / 8
    np.testing.assert_allclose(y[0, 0, 0, 0, band * 3 : band * 3 + 3], want, rtol=1e-6, atol=1e-7)


def test_odd_length_reflects_the_second_to_last_element():
  x = np.arange(3, dtype=np.float32).reshape(1, 3, 1, 1, 1)
  x = np.broadcast_to(x, (1, 3, 2, 2, 1))
  y = np.asarray(patching.haar_level(x))
  # Frames (0, 1) and (2, x[1] = 1): lll = the means 0.5 and 1.5.
  np.testing.assert_allclose(y[0, :, 0, 0, 0], [0.5, 1.5])


def test_patchify_shapes_and_inverse():
  rng = np.random.default_rng(1)
  for t in (1, 9):
    x = rng.uniform(-1, 1, size=(2, t, 16, 24, 3)).astype(np.float32)
    y = patchify(x, 4)
    assert y.shape == (2, (t - 1) // 4 + 1, 4, 6, 192)
    np.testing.assert_allclose(np.asarray(unpatchify(y, 4)), x, atol=1e-6)
  # T - 1 not a multiple of 4: the decoder returns 4t - 3 frames, the input ones first.
  x = rng.uniform(-1, 1, size=(1, 6, 8, 8, 3)).astype(np.float32)
  y = patchify(x, 4)
  assert y.shape[1] == 3
  np.testing.assert_allclose(np.asarray(unpatchify(y, 4))[:, :6], x, atol=1e-6)
