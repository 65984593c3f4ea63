# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Blockwise span attention in plain XLA: the CPU implementation and portable fallback.

Queries are processed in blocks of `block_q` (a `lax.scan`); for each query block an inner loop
visits key blocks 0..hi only, where hi is the block of the largest span in the query block (over
the batch), so key blocks that every span rules out are skipped, never computed. The forward keeps
FlashAttention's running max / sum (online softmax) and saves only the output and the per-row
logsumexp; the backward (a `jax.custom_vjp`) recomputes the scores block by block. Memory is
O(L * D + B * N * block_q * block_k): no [Lq, Lk] array is ever formed, in the forward or in the
gradient.

Works for Lq != Lk (a KV-cache chunk: keys are the cache buffer, spans absolute) and GQA (query
head n uses KV head n // (N // K), as in `dense_attention`). Rows that see no key at all (never
produced by `layout.attention_spans`, where every token sees itself) return zeros, where the dense
reference returns the mean of all values.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from lumos_jax.model.kernels import segment_ids

# (block_q, block_k) per backend. On CPU small tiles win (cache-sized, finer skipping): 128 x 256
# ran 1.3-1.5x faster than 512 x 512 at L = 2k-4k (docs/benchmarks.md); accelerators want larger
# matmuls (untuned).
DEFAULT_BLOCKS = {'cpu': (128, 256)}
_ACCELERATOR_BLOCKS = (512, 512)


def _cdiv(a: int, b: int) -> int:
  return -(-a // b)


def _pad(x: jax.Array, length: int, value=0) -> jax.Array:
  """Pads axis 1 of x to `length`."""
  widths = [(0, 0)] * x.ndim
  widths[1] = (0, length - x.shape[1])
  return jnp.pad(x, widths, constant_values=value)


def _blocks(x: jax.Array, block: int) -> jax.Array:
  """[B, nb * block, ...] -> [nb, B, block, ...] (block index first, for lax.scan)."""
  b, length = x.shape[:2]
  x = x.reshape(b, length // block, block, *x.shape[2:])
  return jnp.moveaxis(x, 1, 0)


def _unblock(x: jax.Array) -> jax.Array:
  """Inverse of `_blocks`."""
  x = jnp.moveaxis(x, 0, 1)
  return x.reshape(x.shape[0], x.shape[1] * x.shape[2], *x.shape[3:])


def blockwise_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    q_spans: jax.Array,
    q_segment_ids: jax.Array | None = None,
    kv_segment_ids: jax.Array | None = None,
    *,
    block_q: int | None = None,
    block_k: int | None = None,
) -> jax.Array:
  """Span attention with the semantics of `attention.dense_attention` in O(L) memory.

  Args:
    q: [B, Lq, N, D]; k, v: [B, Lk, K, D] with K dividing N.
    q_spans: int [B, Lq]; query i sees key j iff j <= q_spans[i].
    q_segment_ids, kv_segment_ids: optional int [B, Lq] / [B, Lk] (both or neither).
    block_q, block_k: tile sizes (clipped to Lq / Lk; default per backend, DEFAULT_BLOCKS);
      sequences are padded to a multiple.

  Returns:
    [B, Lq, N, D] in v's dtype.
  """
  lq, lk = q.shape[1], k.shape[1]
  q_segment_ids, kv_segment_ids = segment_ids(q, k, q_segment_ids, kv_segment_ids)
  default_q, default_k = DEFAULT_BLOCKS.get(jax.default_backend(), _ACCELERATOR_BLOCKS)
  bq, bk = min(block_q or default_q, lq), min(block_k or default_k, lk)
  return _attention(
      q,
      k,
      v,
      q_spans.astype(jnp.int32),
      q_segment_ids.astype(jnp.int32),
      kv_segment_ids.astype(jnp.int32),
      bq,
      bk,
  )


def _prepare(q, k, v, spans, q_seg, kv_seg, bq, bk):
  """Pads to whole blocks and splits the query side into blocks; see `_forward` for shapes."""
  b, lq, n, d = q.shape
  lk, kv_heads = k.shape[1], k.shape[2]
  lq_pad, lk_pad = _cdiv(lq, bq) * bq, _cdiv(lk, bk) * bk
  q = _pad(q, lq_pad).reshape(b, lq_pad, kv_heads, n // kv_heads, d)
  spans = _pad(spans, lq_pad, -1)  # padded queries see nothing
  q_seg = _pad(q_seg, lq_pad)
  k, v, kv_seg = _pad(k, lk_pad), _pad(v, lk_pad), _pad(kv_seg, lk_pad)
  # Last key block each query block needs (-1: none); one bound for the whole batch keeps the
  # loop static-shaped, the per-element mask does the rest.
  last_key = jnp.minimum(spans.reshape(b, -1, bq).max(axis=(0, 2)), lk - 1)
  hi = jnp.where(last_key >= 0, last_key // bk, -1)
  return _blocks(q, bq), _blocks(spans, bq), _blocks(q_seg, bq), hi, k, v, kv_seg


def _block_mask(spans, q_seg, kv_seg, start, bk, lk):
  """[B, bq, bk] visibility of keys start..start+bk-1 for a query block."""
  cols = start + jnp.arange(bk, dtype=jnp.int32)
  seg = jax.lax.dynamic_slice_in_dim(kv_seg, start, bk, axis=1)
  visible = (cols[None, None, :] <= spans[:, :, None]) & (cols < lk)[None, None, :]
  return visible & (q_seg[:, :, None] == seg[:, None, :])


def _scores(q, k, mask, scale):
  """Masked float32 scores [B, K, G, bq, bk] (masked entries -inf)."""
  s = jnp.einsum('bqkgd,bskd->bkgqs', q, k, preferred_element_type=jnp.float32) * scale
  return jnp.where(mask[:, None, None], s, -jnp.inf)


def _forward(q, k, v, spans, q_seg, kv_seg, bq, bk):
  b, lq, n, d = q.shape
  lk = k.shape[1]
  scale = d**-0.5
  qb, sb, segb, hi, kp, vp, kv_segp = _prepare(q, k, v, spans, q_seg, kv_seg, bq, bk)
  kv_heads, groups = qb.shape[3], qb.shape[4]

  def query_block(xs):
    qi, si, segi, hi_i = xs  # qi [B, bq, K, G, D]

    def key_block(j, carry):
      acc, m, l = carry  # acc [B, K, G, bq, D] f32; m, l [B, K, G, bq]
      start = j * bk
      kj = jax.lax.dynamic_slice_in_dim(kp, start, bk, axis=1)
      vj = jax.lax.dynamic_slice_in_dim(vp, start, bk, axis=1)
      s = _scores(qi, kj, _block_mask(si, segi, kv_segp, start, bk, lk), scale)
      m_new = jnp.maximum(m, s.max(axis=-1))
      m_safe = jnp.where(jnp.isfinite(m_new), m_new, 0.0)  # rows with nothing visible yet
      p = jnp.exp(s - m_safe[..., None])
      alpha = jnp.exp(m - m_safe)
      pv = jnp.einsum(
          'bkgqs,bskd->bkgqd', p.astype(v.dtype), vj, preferred_element_type=jnp.float32
      )
      return alpha[..., None] * acc + pv, m_new, alpha * l + p.sum(axis=-1)

    stats = (b, kv_heads, groups, bq)
    init = (
        jnp.zeros((*stats, d), jnp.float32),
        jnp.full(stats, -jnp.inf, jnp.float32),
        jnp.zeros(stats, jnp.float32),
    )
    acc, m, l = jax.lax.fori_loop(0, hi_i + 1, key_block, init)
    empty = l == 0
    out = acc / jnp.where(empty, 1.0, l)[..., None]
    # +inf makes exp(s - lse) = 0 in the backward for rows that saw nothing.
    lse = jnp.where(empty, jnp.inf, m + jnp.log(jnp.where(empty, 1.0, l)))
    out = jnp.einsum('bkgqd->bqkgd', out).astype(v.dtype)
    return out, lse

  out, lse = jax.lax.map(query_block, (qb, sb, segb, hi))  # [nq, B, bq, K, G, D], [nq, B, K, G, bq]
  out = _unblock(out).reshape(b, -1, n, d)[:, :lq]
  return out, lse


@functools.partial(jax.custom_vjp, nondiff_argnums=(6, 7))
def _attention(q, k, v, spans, q_seg, kv_seg, bq, bk):
  return _forward(q, k, v, spans, q_seg, kv_seg, bq, bk)[0]


def _attention_fwd(q, k, v, spans, q_seg, kv_seg, bq, bk):
  out, lse = _forward(q, k, v, spans, q_seg, kv_seg, bq, bk)
  return out, (q, k, v, spans, q_seg, kv_seg, out, lse)


def _attention_bwd(bq, bk, res, dout):
  q, k, v, spans, q_seg, kv_seg, out, lse = res
  b, lq, n, d = q.shape
  lk = k.shape[1]
  scale = d**-0.5
  qb, sb, segb, hi, kp, vp, kv_segp = _prepare(q, k, v, spans, q_seg, kv_seg, bq, bk)
  kv_heads, groups = qb.shape[3], qb.shape[4]
  lq_pad = qb.shape[0] * bq
  dob = _blocks(_pad(dout, lq_pad).reshape(b, lq_pad, kv_heads, groups, d), bq)
  # delta_i = dO_i . O_i, the softmax-Jacobian term; padded rows have dO = 0.
  delta = jnp.einsum('bqnd,bqnd->bnq', dout.astype(jnp.float32), out.astype(jnp.float32))
  delta = _pad(jnp.moveaxis(delta, 2, 1), lq_pad)  # [B, Lq_pad, N]
  delta = jnp.moveaxis(_blocks(delta.reshape(b, lq_pad, kv_heads, groups), bq), 2, -1)

  def query_block(carry, xs):
    dk, dv = carry  # [B, Lk_pad, K, D] f32
    qi, si, segi, hi_i, lse_i, delta_i, do_i = xs

    def key_block(j, c):
      dq_i, dk, dv = c
      start = j * bk
      kj = jax.lax.dynamic_slice_in_dim(kp, start, bk, axis=1)
      vj = jax.lax.dynamic_slice_in_dim(vp, start, bk, axis=1)
      s = _scores(qi, kj, _block_mask(si, segi, kv_segp, start, bk, lk), scale)
      p = jnp.exp(s - lse_i[..., None])  # [B, K, G, bq, bk]
      dv_j = jnp.einsum(
          'bkgqs,bqkgd->bskd', p.astype(dout.dtype), do_i, preferred_element_type=jnp.float32
      )
      dp = jnp.einsum('bqkgd,bskd->bkgqs', do_i, vj, preferred_element_type=jnp.float32)
      ds = p * (dp - delta_i[..., None]) * scale
      dq_i = dq_i + jnp.einsum(
          'bkgqs,bskd->bqkgd', ds.astype(k.dtype), kj, preferred_element_type=jnp.float32
      )
      dk_j = jnp.einsum(
          'bkgqs,bqkgd->bskd', ds.astype(q.dtype), qi, preferred_element_type=jnp.float32
      )
      add = lambda acc, x: jax.lax.dynamic_update_slice_in_dim(
          acc, jax.lax.dynamic_slice_in_dim(acc, start, bk, axis=1) + x, start, axis=1
      )
      return dq_i, add(dk, dk_j), add(dv, dv_j)

    dq_i = jnp.zeros(qi.shape, jnp.float32)
    dq_i, dk, dv = jax.lax.fori_loop(0, hi_i + 1, key_block, (dq_i, dk, dv))
    return (dk, dv), dq_i

  zeros = jnp.zeros(kp.shape, jnp.float32)
  (dk, dv), dq = jax.lax.scan(query_block, (zeros, zeros), (qb, sb, segb, hi, lse, delta, dob))
  dq = _unblock(dq).reshape(b, -1, n, d)[:, :lq]
  return (
      dq.astype(q.dtype),
      dk[:, :lk].astype(k.dtype),
      dv[:, :lk].astype(v.dtype),
      None,
      None,
      None,
  )


_attention.defvjp(_attention_fwd, _attention_bwd)
