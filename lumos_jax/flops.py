# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Model FLOPs of a train step, and the chip peaks that MFU divides them by.

Model FLOPs follow the PaLM convention (forward + backward = 3 x the forward matmuls): what the
model needs, not what the hardware runs, so rematerialised recomputation is not counted. Three
parts per step:

  6 x decoder weights x tokens            q, k, v, o and SwiGLU of every layer, for every real
                                          token (the embedding lookup is free; padding is not
                                          counted).
  6 x embed x visual codes x targets      the LM head's visual columns, for the positions that
                                          carry the loss (masked visual codes) only: no other
                                          position needs logits.
  12 x layers x heads x head_dim x pairs  attention scores and values, 2 matmuls of 2 FLOPs per
                                          (query, key) pair and channel, x3 for the backward.

`pairs` counts only the (query, key) pairs the frame-causal spans let a query see: a text token
sees the tokens up to itself, a frame token its whole frame and everything before it. Neither
the padding nor the masked part of the blocks a kernel computes is credited.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from lumos_jax.model.config import ModelConfig

# Dense bfloat16 matmul peak per chip in FLOP/s (vendor figures, without sparsity), by the start
# of `jax.Device.device_kind` (the first match wins, so more specific names come first). MFU is
# only reported for a bfloat16 model on one of these.
PEAK_FLOPS = {
    'NVIDIA H100 PCIe': 756e12,
    'NVIDIA H100': 989e12,  # SXM
    'NVIDIA H200': 989e12,
    'NVIDIA A100': 312e12,
    'TPU v4': 275e12,
    'TPU v5 lite': 197e12,  # v5e
    'TPU v5p': 459e12,
    'TPU v6 lite': 918e12,  # v6e (Trillium)
}


def peak_flops(device: jax.Device, dtype: str) -> float | None:
  """The chip's dense peak for `dtype` from PEAK_FLOPS, or None when unknown (e.g. CPU)."""
  if dtype != 'bfloat16':
    return None
  return next((v for kind, v in PEAK_FLOPS.items() if device.device_kind.startswith(kind)), None)


def decoder_weights(mc: ModelConfig) -> int:
  """Matmul weights of the decoder layers: q, k, v, o and SwiGLU (norm scales excluded)."""
  e, n, k, d = mc.embed_dim, mc.num_heads, mc.num_kv_heads, mc.head_dim
  return mc.num_layers * (e * n * d * 2 + e * k * d * 2 + 3 * e * mc.mlp_dim)


def attended_pairs(spans, segment_ids) -> jax.Array:
  """float32 scalar: (query, key) pairs the spans allow over the real tokens of [B, L] rows.

  A row holds one item from position 0, right-padded (segment id 0), as the data pipeline builds
  it, so real query i sees keys 0..spans[i]. float32 because a batch of 64k-token rows has more
  pairs than int32 holds.
  """
  visible = jnp.asarray(spans, jnp.float32) + 1.0
  return jnp.sum(jnp.where(jnp.asarray(segment_ids) > 0, visible, 0.0))


@dataclasses.dataclass(frozen=True)
class ModelFlops:
  """Training model FLOPs = per_token x real tokens + per_target x loss targets + per_pair x
  attended pairs (module docstring)."""

  per_token: float
  per_target: float
  per_pair: float

  @classmethod
  def of(cls, mc: ModelConfig, visual_codes: int) -> ModelFlops:
    return cls(
        6.0 * decoder_weights(mc),
        6.0 * mc.embed_dim * visual_codes,
        12.0 * mc.num_layers * mc.num_heads * mc.head_dim,
    )

  def __call__(self, tokens: float, targets: float, pairs: float) -> float:
    return self.per_token * tokens + self.per_target * targets + self.per_pair * pairs
