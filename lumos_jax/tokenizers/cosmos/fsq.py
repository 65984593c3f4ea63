# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Finite scalar quantisation as in Cosmos (`FSQuantizer`, COSMOS_DV.md section 5).

Channels are last: z [..., D] with D = len(levels). Everything runs in float32 whatever the
input dtype, as the official quantizer does (its float32 `half_l`/`shift` tensors promote a bf16
latent). Index digits: channel 0 varies fastest (basis = cumprod([1, L_0, ..., L_{D-2}])).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

_EPS = 1e-3  # widens the tanh range so that the outermost levels are reachable


def _levels(levels: Sequence[int]) -> np.ndarray:
  return np.asarray(levels, np.int32)


def basis(levels: Sequence[int]) -> np.ndarray:
  """int32 [D]: the mixed-radix weights of the digits, channel 0 fastest."""
  return np.cumprod(np.concatenate([[1], _levels(levels)[:-1]])).astype(np.int32)


def _half_width(levels: Sequence[int]) -> np.ndarray:
  return (_levels(levels) // 2).astype(np.float32)


def bound(z: jax.Array, levels: Sequence[int]) -> jax.Array:
  """float32 [..., D]: tanh(z + shift) * half_l - offset, in (-(L//2) - 0.5, ...) per channel.

  Even levels are shifted by half a step so that they round to L integers -L/2 .. L/2 - 1.
  """
  lv = _levels(levels)
  half_l = (lv - 1).astype(np.float32) * np.float32(1 + _EPS) / np.float32(2)
  offset = np.where(lv % 2 == 0, np.float32(0.5), np.float32(0.0))
  shift = np.arctanh(offset / half_l).astype(np.float32)
  return jnp.tanh(z.astype(jnp.float32) + shift) * half_l - offset


def quantize(z: jax.Array, levels: Sequence[int]) -> tuple[jax.Array, jax.Array]:
  """Quantises z [..., D] -> (codes float32 [..., D] in [-1, 1], indices int32 [...]).

  Rounding is half-to-even like `torch.round`; no straight-through estimator (inference only).
  """
  q = jnp.round(bound(z, levels))
  codes = q / _half_width(levels)
  return codes, codes_to_indices(codes, levels)


def codes_to_indices(codes: jax.Array, levels: Sequence[int]) -> jax.Array:
  """int32 [...]: the index of codes [..., D] (values k / (L//2)) in [0, prod(levels))."""
  hw = _half_width(levels)
  digits = jnp.round(codes.astype(jnp.float32) * hw + hw).astype(jnp.int32)
  return jnp.sum(digits * basis(levels), axis=-1, dtype=jnp.int32)


def indices_to_codes(indices: jax.Array, levels: Sequence[int]) -> jax.Array:
  """float32 [..., D]: the codes of int indices [...] (digit d = index // basis_d % L_d)."""
  digits = (jnp.asarray(indices, jnp.int32)[..., None] // basis(levels)) % _levels(levels)
  hw = _half_width(levels)
  return (digits.astype(jnp.float32) - hw) / hw
