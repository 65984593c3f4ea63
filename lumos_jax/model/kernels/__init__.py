# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Span-masked attention kernels behind `lumos_jax.model.attention.attend`.

Every kernel takes the arguments of `attention.dense_attention` (q [B, Lq, N, D], k/v [B, Lk, K, D],
int spans [B, Lq], optional segment ids) and matches it in values and gradients:

  blockwise   plain XLA, flash-style online softmax with a custom VJP (any backend).
  pallas_gpu  Pallas/Triton forward and backward kernels (GPU; `interpret=True` runs on CPU).
  splash_tpu  TPU splash attention, two static masks + segment ids derived from the spans.
  cudnn       `jax.nn.dot_product_attention` where its masks fit, blockwise otherwise.

The GPU/TPU modules import Pallas lazily (only when selected).
"""

import jax
import jax.numpy as jnp

# Large negative instead of -inf so that fully masked rows give a finite softmax rather than NaN;
# 0.7 * max leaves headroom so adding it to a logit cannot overflow (MaxText DEFAULT_MASK_VALUE).
MASK_VALUE = -0.7 * 3.4028234663852886e38


def segment_ids(
    q: jax.Array, k: jax.Array, q_segment_ids: jax.Array | None, kv_segment_ids: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
  """Both segment-id arrays ([B, Lq], [B, Lk]); zeros (one segment) when neither is given."""
  if (q_segment_ids is None) != (kv_segment_ids is None):
    raise ValueError('pass both q_segment_ids and kv_segment_ids, or neither')
  if q_segment_ids is None:
    return jnp.zeros(q.shape[:2], jnp.int32), jnp.zeros(k.shape[:2], jnp.int32)
  return q_segment_ids, kv_segment_ids
