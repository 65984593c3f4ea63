# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Rotary position embeddings: MM-RoPE (official), plain 1-D RoPE and naive contiguous 3-D RoPE.

All variants use the rotate-half convention with frequency index k = c mod (D/2) for channel c, so
channel c is rotated together with channel c + D/2 (spec 3.1). They differ only in which position
each frequency index reads for visual tokens:

* `mm` (official "distributed" allocation, spec 3.2): frequency k reads the t, h or w position by
  k mod 16 in the pattern `tttthhwwhhwwhhww` (t: 1/4 of the spectrum, h and w: 3/8 each,
  interleaved from high to low frequency).
* `3d_contiguous` (ablation, naive 3-D RoPE): the same 1/4, 3/8, 3/8 shares as contiguous blocks,
  t on the highest frequencies, then h, then w.
* `1d` (ablation): every token uses its text position; no 3-D information.

Non-visual tokens always use their text position on every channel.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lumos_jax.layout import Positions

VARIANTS = ('mm', '1d', '3d_contiguous')
_T, _H, _W = 0, 1, 2
# Axis of frequency index k by k mod 16 in the official allocation.
_MM_PATTERN = (_T,) * 4 + (_H, _H, _W, _W) * 3


def frequency_axes(head_dim: int, variant: str = 'mm') -> np.ndarray:
  """Axis (0=t, 1=h, 2=w) read by each of the head_dim/2 frequencies of a visual token."""
  if variant not in ('mm', '3d_contiguous'):
    raise ValueError(f'rope variant {variant!r} has no 3-D axes; expected one of mm, 3d_contiguous')
  if head_dim % 32:
    raise ValueError(f'head_dim={head_dim} must be a multiple of 32 for 3-D RoPE')
  half = head_dim // 2
  if variant == 'mm':
    return np.asarray([_MM_PATTERN[k % 16] for k in range(half)], np.int32)
  n_t, n_h = half // 4, 3 * half // 8
  return np.asarray([_T] * n_t + [_H] * n_h + [_W] * (half - n_t - n_h), np.int32)


def inverse_frequencies(head_dim: int, theta: float) -> jax.Array:
  """omega_k = theta^(-2k/D), k in [0, D/2), float32."""
  return 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))


def axis_resolution(
    head_dim: int, theta: float, strides: tuple[int, int, int], variant: str = 'mm'
) -> tuple[float, float, float]:
  """Largest rotation (rad, at most pi) between neighbouring latents along t, h and w.

  A neighbour on an axis is `stride` position units away, so frequency omega turns it by
  omega * stride; angles above pi alias and are left out. Small values mean the model can hardly
  tell neighbouring rows or columns apart by position: the official models (head_dim 128, theta
  1e4, strides (4, 8, 8)) have (3.0, 2.5, 2.9); head_dim 32 at theta 1e4 only (1.0, 0.8, 0.25)
  with strides (1, 8, 8) (docs/demo.md).
  """
  inv_freq = np.asarray(inverse_frequencies(head_dim, theta), np.float64)
  axes = frequency_axes(head_dim, variant)
  out = []
  for axis, stride in enumerate(strides):
    turns = inv_freq[axes == axis] * stride
    turns = turns[turns <= np.pi]
    out.append(float(turns.max()) if turns.size else 0.0)
  return tuple(out)


def rope_cos_sin(
    positions: Positions, head_dim: int, theta: float, variant: str = 'mm'
) -> tuple[jax.Array, jax.Array]:
  """cos/sin tables, float32 [..., L, head_dim], for the given positions and RoPE variant."""
  if variant not in VARIANTS:
    raise ValueError(f'unknown rope variant {variant!r}; expected one of {VARIANTS}')
  if head_dim % 2:
    raise ValueError(f'head_dim={head_dim} must be even for RoPE')
  inv_freq = inverse_frequencies(head_dim, theta)
  text = jnp.asarray(positions.text, jnp.float32)[..., None]
  angle = text * inv_freq
  if variant != '1d':
    axes = frequency_axes(head_dim, variant)
    pos3 = jnp.stack(
        [jnp.asarray(p, jnp.float32) for p in (positions.t, positions.h, positions.w)], axis=-1
    )
    visual_angle = pos3[..., axes] * inv_freq
    angle = jnp.where(jnp.asarray(positions.is_visual)[..., None], visual_angle, angle)
  angle = jnp.concatenate([angle, angle], axis=-1)
  return jnp.cos(angle), jnp.sin(angle)


def mm_rope_cos_sin(
    positions: Positions, head_dim: int, theta: float
) -> tuple[jax.Array, jax.Array]:
  """Official MM-RoPE cos/sin tables, float32 [..., L, head_dim] (spec 3, appendix A.2)."""
  return rope_cos_sin(positions, head_dim, theta, 'mm')


def rotate_half(x: jax.Array) -> jax.Array:
  half = x.shape[-1] // 2
  return jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
  """Rotates x [B, L, N, D] by cos/sin [B, L, D] (broadcast over heads).

  Like the official code, the tables are cast to the activation dtype before use.
  """
  cos = cos[..., None, :].astype(x.dtype)
  sin = sin[..., None, :].astype(x.dtype)
  return x * cos + rotate_half(x) * sin
