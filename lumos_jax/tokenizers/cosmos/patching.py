# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Haar wavelet patching of videos (`Patcher3D` / `UnPatcher3D`, COSMOS_DV.md section 3).

Channels-last layout: videos are [B, T, H, W, C]. One forward level maps each 2x2x2 block to 8
bands (band index 4*tau + 2*eta + omega over the T, H, W low/high bands, channel = band*C + c).
The official filters (1/sqrt(2) per axis) and the final 1/(2*sqrt(2)) rescale multiply to 1/8,
i.e. (a + b)/2 and (a - b)/2 per axis, which is exact in floating point; the inverse level is
(low + high, low - high) per axis. The official code uses the rounded float constants; the
difference is float rounding noise (~1e-7 relative).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _split_pairs(x: jax.Array, axis: int) -> tuple[jax.Array, jax.Array]:
  """(x[2i], x[2i+1]) along `axis`, reflect-padding one element at the end when odd."""
  n = x.shape[axis]
  if n % 2:
    if n < 2:
      raise ValueError(f'cannot reflect-pad an axis of length 1 (shape {x.shape}, axis {axis})')
    # F.pad(mode='reflect') by one at the end appends x[n - 2].
    x = jnp.concatenate([x, jax.lax.slice_in_dim(x, n - 2, n - 1, axis=axis)], axis=axis)
  shape = x.shape[:axis] + (x.shape[axis] // 2, 2) + x.shape[axis + 1 :]
  x = x.reshape(shape)
  return jnp.take(x, 0, axis=axis + 1), jnp.take(x, 1, axis=axis + 1)


def _interleave(even: jax.Array, odd: jax.Array, axis: int) -> jax.Array:
  """y[2i] = even[i], y[2i+1] = odd[i] along `axis`."""
  y = jnp.stack([even, odd], axis=axis + 1)
  return y.reshape(even.shape[:axis] + (2 * even.shape[axis],) + even.shape[axis + 1 :])


def haar_level(x: jax.Array) -> jax.Array:
  """One rescaled Haar DWT level: [B, T, H, W, C] -> [B, ceil(T/2), ceil(H/2), ceil(W/2), 8C]."""
  bands = [x]
  for axis in (1, 2, 3):  # T, then H, then W: the last axis is the fastest band bit
    split = []
    for band in bands:
      a, b = _split_pairs(band, axis)
      split += [(a + b) * 0.5, (a - b) * 0.5]
    bands = split
  return jnp.concatenate(bands, axis=-1)


def inverse_haar_level(x: jax.Array) -> jax.Array:
  """Inverse of `haar_level` for even lengths: [B, t, h, w, 8C] -> [B, 2t, 2h, 2w, C]."""
  bands = jnp.split(x, 8, axis=-1)
  for axis in (3, 2, 1):  # undo W, then H, then T
    bands = [
        _interleave(low + high, low - high, axis) for low, high in zip(bands[0::2], bands[1::2])
    ]
  return bands[0]


def patchify(x: jax.Array, patch_size: int) -> jax.Array:
  """Haar patcher: [B, T, H, W, C] -> [B, ceil((T-1)/p) + 1, ceil(H/p), ceil(W/p), C * p**3].

  The first frame is repeated p times (so that it alone makes the first latent frame), then
  log2(p) levels are applied.
  """
  x = jnp.concatenate([jnp.repeat(x[:, :1], patch_size, axis=1), x[:, 1:]], axis=1)
  for _ in range(patch_size.bit_length() - 1):
    x = haar_level(x)
  return x


def unpatchify(x: jax.Array, patch_size: int) -> jax.Array:
  """Inverse Haar patcher: [B, t, h, w, C * p**3] -> [B, p*t - (p-1), p*h, p*w, C]."""
  for _ in range(patch_size.bit_length() - 1):
    x = inverse_haar_level(x)
  return x[:, patch_size - 1 :]
