# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`jax.nn.dot_product_attention` (cuDNN flash attention) where its masks fit the spans.

cuDNN takes no arbitrary mask without materialising it as a dense bias (DESIGN.md section 5), but
two span patterns are native:

  causal     Lq == Lk and span[i] == i for every row (attention_mask='causal', no frames):
             `is_causal=True`.
  key bound  every query of a row has the same span s (a KV-cache chunk that is one frame, the
             sampler's per-frame call): `key_value_seq_lengths = s + 1`.

Either also needs one segment per row (no padding inside the row). Whether a batch fits is only
known from the spans' values, so the choice is a `lax.switch` at run time; everything else (frame
spans, padded batches, prefill of text + frames) runs `blockwise_attention`. cuDNN itself also
needs float16/bfloat16 and head_dim <= 128 (a multiple of 8): other inputs always fall back
(decided at trace time). Not yet run on a GPU; the switch logic is tested on CPU with
implementation='xla'.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from lumos_jax.model.kernels.blockwise import blockwise_attention

_CUDNN_DTYPES = (jnp.float16, jnp.bfloat16)


def fits_cudnn(q: jax.Array) -> bool:
  """Static part of the check: dtype and head_dim that cuDNN flash attention accepts."""
  d = q.shape[-1]
  return q.dtype in _CUDNN_DTYPES and d <= 128 and d % 8 == 0


def mask_case(q_spans, q_segment_ids, kv_segment_ids, num_keys: int) -> jax.Array:
  """int32 scalar: 0 causal, 1 per-row key bound, 2 neither (see the module docstring)."""
  lq = q_spans.shape[1]
  one_segment = jnp.bool_(True)
  if q_segment_ids is not None:
    first = q_segment_ids[:, :1]
    one_segment = jnp.all(q_segment_ids == first) & jnp.all(kv_segment_ids == first)
  causal = jnp.bool_(False)
  if lq == num_keys:
    causal = jnp.all(q_spans == jnp.arange(lq, dtype=q_spans.dtype))
  bound = jnp.all(q_spans == q_spans[:, :1]) & jnp.all(q_spans >= 0)
  return jnp.where(one_segment & causal, 0, jnp.where(one_segment & bound, 1, 2)).astype(jnp.int32)


def cudnn_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    q_spans: jax.Array,
    q_segment_ids: jax.Array | None = None,
    kv_segment_ids: jax.Array | None = None,
    *,
    implementation: str | None = 'cudnn',
) -> jax.Array:
  """Span attention through `jax.nn.dot_product_attention` when the spans allow it.

  Args:
    q, k, v, q_spans, q_segment_ids, kv_segment_ids: as `attention.dense_attention`.
    implementation: passed to `jax.nn.dot_product_attention` ('cudnn'; 'xla' for CPU tests, which
      also skips the dtype check).

  Returns:
    [B, Lq, N, D] in v's dtype.
  """
  args = (q, k, v, q_spans, q_segment_ids, kv_segment_ids)
  if implementation == 'cudnn' and not fits_cudnn(q):
    return blockwise_attention(*args)
  lk = k.shape[1]
  scale = q.shape[-1] ** -0.5

  def causal():
    return jax.nn.dot_product_attention(
        q, k, v, scale=scale, is_causal=True, implementation=implementation
    ).astype(v.dtype)

  def key_bound():
    lengths = jnp.minimum(q_spans[:, 0] + 1, lk).astype(jnp.int32)
    return jax.nn.dot_product_attention(
        q, k, v, scale=scale, key_value_seq_lengths=lengths, implementation=implementation
    ).astype(v.dtype)

  def fallback():
    return blockwise_attention(*args)

  case = mask_case(q_spans, q_segment_ids, kv_segment_ids, lk)
  return jax.lax.switch(case, (causal, key_bound, fallback))
