# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Attention from spans: query i sees key j iff j <= span[i] (and both share a segment).

Spans describe the Lumos-1 mask in O(L) (text causal, frames bidirectional inside, causal across;
see `layout.attention_spans`). Keys are indexed from 0: either the same sequence as the queries or
a left-aligned KV cache buffer whose slot index is the absolute position. Only the dense reference
implementation lives here for now; it materialises a [B, Lq, Lk] boolean mask and is meant for
tests and short sequences.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Large negative instead of -inf so that fully masked rows (padding) give a uniform, finite softmax
# rather than NaN; 0.7 * max leaves headroom so adding it to a logit cannot overflow.
_MASK_VALUE = -0.7 * float(jnp.finfo(jnp.float32).max)


def span_mask(
    q_spans: jax.Array,
    num_keys: int,
    q_segment_ids: jax.Array | None = None,
    kv_segment_ids: jax.Array | None = None,
) -> jax.Array:
  """Boolean [B, Lq, Lk] mask: key j allowed for query i iff j <= span[i] (and same segment)."""
  allowed = jnp.arange(num_keys)[None, None, :] <= q_spans[:, :, None]
  if q_segment_ids is not None:
    allowed &= q_segment_ids[:, :, None] == kv_segment_ids[:, None, :]
  return allowed


def dense_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    q_spans: jax.Array,
    q_segment_ids: jax.Array | None = None,
    kv_segment_ids: jax.Array | None = None,
) -> jax.Array:
  """Reference grouped-query attention.

  Args:
    q: [B, Lq, N, D] queries; k, v: [B, Lk, K, D] with N a multiple of K (query head n uses KV
      head n // (N // K), the head-major grouping of the official repeat_kv).
    q_spans: int [B, Lq], last visible key index per query.
    q_segment_ids, kv_segment_ids: optional int [B, Lq] / [B, Lk]; keys of another segment are
      hidden (used for padding).

  Returns:
    [B, Lq, N, D] in v's dtype; scores and softmax are computed in float32.
  """
  b, lq, n, d = q.shape
  lk, kv_heads = k.shape[1], k.shape[2]
  q = q.reshape(b, lq, kv_heads, n // kv_heads, d)
  scores = jnp.einsum('bqkgd,bskd->bkgqs', q, k, preferred_element_type=jnp.float32)
  scores = scores * (d ** -0.5)
  mask = span_mask(q_spans, lk, q_segment_ids, kv_segment_ids)
  scores = jnp.where(mask[:, None, None], scores, _MASK_VALUE)
  probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
  out = jnp.einsum('bkgqs,bskd->bqkgd', probs, v)
  return out.reshape(b, lq, n, d)


def attend(q, k, v, q_spans, q_segment_ids=None, kv_segment_ids=None, *, impl: str = 'dense'):
  """Dispatches to the configured attention implementation."""
  if impl == 'dense':
    return dense_attention(q, k, v, q_spans, q_segment_ids, kv_segment_ids)
  raise ValueError(f'unknown attention implementation {impl!r}')
