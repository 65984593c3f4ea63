# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""FlashAttention-2 with span masks as Pallas (Triton) GPU kernels, forward and backward.

Follows `jax.experimental.pallas.ops.gpu.attention` (the causal + segment-id `mha`), with the
causal test replaced by the span test `key <= span[query]` and loop bounds read from the spans:

  forward / dq  grid (query blocks, B, N); loop over key blocks 0 .. max span of the query block.
  dk, dv        grid (key blocks, B, N); loop over query blocks from the first one whose largest
                span reaches the key block (found in-kernel from a small per-block max array).

So key blocks that the spans rule out are skipped in all three kernels. dk/dv are computed per
query head in float32 and summed over each GQA group in XLA. Sequences are padded to whole blocks
and head_dim to a power of two (Triton tiles); scores and softmax statistics are float32, kept in
base 2 (exp2) as in the upstream kernel.

Tested on CPU with `interpret=True` against `dense_attention` (values and gradients), also per
shard under a multi-device mesh (`attention.attend` wraps it in shard_map). Not yet run on a GPU:
block sizes and num_warps are the upstream defaults, untuned.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

from lumos_jax.model.kernels import MASK_VALUE, segment_ids

DEFAULT_BLOCK_Q = 64
DEFAULT_BLOCK_K = 64
_LOG2E = math.log2(math.e)


def _cdiv(a, b):
  return -(-a // b)


def _pad_axis(x, axis, length, value=0):
  widths = [(0, 0)] * x.ndim
  widths[axis] = (0, length - x.shape[axis])
  return jnp.pad(x, widths, constant_values=value)


def _mask(spans, q_seg, kv_seg, start_k, block_k, lk):
  cols = start_k * block_k + jnp.arange(block_k)
  visible = (cols[None, :] <= spans[:, None]) & (cols[None, :] < lk)
  return visible & (q_seg[:, None] == kv_seg[None, :])


def _num_key_blocks(spans, block_k, lk):
  """Key blocks 0 .. (max span) // block_k, as a count (0 when no span is >= 0)."""
  last = jnp.minimum(jnp.max(spans), lk - 1)
  return lax.div(last + block_k, block_k)  # last // block_k + 1, truncating division is safe


def _fwd_kernel(
    q_ref, k_ref, v_ref, span_ref, q_seg_ref, kv_seg_ref, o_ref, lse_ref, *, scale, block_k, lk
):
  block_q, dp = q_ref.shape
  q = q_ref[...]
  spans, q_seg = span_ref[...], q_seg_ref[...]

  def body(j, carry):
    acc, m, l = carry
    keys = pl.ds(j * block_k, block_k)
    k, v = k_ref[keys, :], v_ref[keys, :]
    s = plgpu.dot(q, k.T) * (scale * _LOG2E)
    s = jnp.where(_mask(spans, q_seg, kv_seg_ref[keys], j, block_k, lk), s, MASK_VALUE)
    m_new = jnp.maximum(m, jnp.max(s, axis=1))
    correction = jnp.exp2(m - m_new)
    p = jnp.exp2(s - m_new[:, None])
    acc = correction[:, None] * acc + plgpu.dot(p.astype(v.dtype), v)
    return acc, m_new, correction * l + jnp.sum(p, axis=1)

  init = (
      jnp.zeros((block_q, dp), jnp.float32),
      jnp.full((block_q,), -jnp.inf, jnp.float32),
      jnp.zeros((block_q,), jnp.float32),
  )
  acc, m, l = lax.fori_loop(0, _num_key_blocks(spans, block_k, lk), body, init)
  l = jnp.where(l == 0.0, 1.0, l)  # rows of a block that visited nothing (padding)
  o_ref[...] = (acc / l[:, None]).astype(o_ref.dtype)
  lse_ref[...] = m + jnp.log2(l)


def _dq_kernel(
    q_ref,
    k_ref,
    v_ref,
    span_ref,
    q_seg_ref,
    kv_seg_ref,
    do_ref,
    lse_ref,
    delta_ref,
    dq_ref,
    *,
    scale,
    block_k,
    lk,
):
  q, do = q_ref[...], do_ref[...]
  spans, q_seg = span_ref[...], q_seg_ref[...]
  lse, delta = lse_ref[...], delta_ref[...]

  def body(j, dq):
    keys = pl.ds(j * block_k, block_k)
    k, v = k_ref[keys, :], v_ref[keys, :]
    s = plgpu.dot(q, k.T) * (scale * _LOG2E)
    s = jnp.where(_mask(spans, q_seg, kv_seg_ref[keys], j, block_k, lk), s, MASK_VALUE)
    p = jnp.exp2(s - lse[:, None])
    ds = p * (plgpu.dot(do, v.T) - delta[:, None])
    return dq + plgpu.dot(ds.astype(k.dtype), k)

  dq = lax.fori_loop(
      0, _num_key_blocks(spans, block_k, lk), body, jnp.zeros(dq_ref.shape, jnp.float32)
  )
  dq_ref[...] = (dq * scale).astype(dq_ref.dtype)


def _dkv_kernel(
    q_ref,
    k_ref,
    v_ref,
    span_ref,
    q_seg_ref,
    kv_seg_ref,
    do_ref,
    lse_ref,
    delta_ref,
    qmax_ref,
    dk_ref,
    dv_ref,
    *,
    scale,
    block_q,
    num_q_blocks,
    lk,
):
  block_k = k_ref.shape[0]
  j = pl.program_id(0)
  k, v, kv_seg = k_ref[...], v_ref[...], kv_seg_ref[...]
  # First query block whose largest span reaches this key block; later blocks are all visited
  # (for layout spans, which never decrease, every later block reaches it; the mask does the rest).
  qmax = qmax_ref[...]
  lo = jnp.min(jnp.where(qmax >= j * block_k, jnp.arange(qmax.shape[0]), num_q_blocks))

  def body(i, carry):
    dk, dv = carry
    rows = pl.ds(i * block_q, block_q)
    q, do = q_ref[rows, :], do_ref[rows, :]
    s = plgpu.dot(q, k.T) * (scale * _LOG2E)
    s = jnp.where(_mask(span_ref[rows], q_seg_ref[rows], kv_seg, j, block_k, lk), s, MASK_VALUE)
    p = jnp.exp2(s - lse_ref[rows][:, None])
    dv = dv + plgpu.dot(p.astype(do.dtype).T, do)
    ds = p * (plgpu.dot(do, v.T) - delta_ref[rows][:, None])
    return dk + plgpu.dot(ds.astype(q.dtype).T, q), dv

  zeros = jnp.zeros(dk_ref.shape, jnp.float32)
  dk, dv = lax.fori_loop(lo, num_q_blocks, body, (zeros, zeros))
  dk_ref[...] = (dk * scale).astype(dk_ref.dtype)
  dv_ref[...] = dv.astype(dv_ref.dtype)


def pallas_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    q_spans: jax.Array,
    q_segment_ids: jax.Array | None = None,
    kv_segment_ids: jax.Array | None = None,
    *,
    block_q: int = DEFAULT_BLOCK_Q,
    block_k: int = DEFAULT_BLOCK_K,
    num_warps: int | None = None,
    num_stages: int = 2,
    interpret: bool | None = None,
) -> jax.Array:
  """Span attention (semantics of `attention.dense_attention`) with Pallas Triton kernels.

  Args:
    q: [B, Lq, N, D]; k, v: [B, Lk, K, D] with K dividing N.
    q_spans: int [B, Lq]; q_segment_ids, kv_segment_ids: optional int [B, Lq] / [B, Lk].
    block_q, block_k: powers of two (>= 16 for Triton's dot).
    num_warps, num_stages: Triton launch parameters (default: 4 warps up to head_dim 64, else 8).
    interpret: run the kernels in the Pallas interpreter (any backend, slow: for tests); default:
      only on CPU.
  """
  q_segment_ids, kv_segment_ids = segment_ids(q, k, q_segment_ids, kv_segment_ids)
  if interpret is None:
    interpret = jax.default_backend() == 'cpu'
  params = dict(
      block_q=block_q,
      block_k=block_k,
      num_warps=num_warps,
      num_stages=num_stages,
      interpret=interpret,
  )
  return _attention(
      q,
      k,
      v,
      q_spans.astype(jnp.int32),
      q_segment_ids.astype(jnp.int32),
      kv_segment_ids.astype(jnp.int32),
      tuple(sorted(params.items())),
  )


def _setup(q, k, v, spans, q_seg, kv_seg, params):
  """Pads sequences to whole blocks and head_dim to a power of two."""
  p = dict(params)
  b, lq, n, d = q.shape
  lk, kv_heads = k.shape[1], k.shape[2]
  bq, bk = p['block_q'], p['block_k']
  dp = max(16, pl.next_power_of_2(d))
  lq_pad, lk_pad = _cdiv(lq, bq) * bq, _cdiv(lk, bk) * bk
  q = _pad_axis(_pad_axis(q, 3, dp), 1, lq_pad)
  k = _pad_axis(_pad_axis(k, 3, dp), 1, lk_pad)
  v = _pad_axis(_pad_axis(v, 3, dp), 1, lk_pad)
  spans = _pad_axis(spans, 1, lq_pad, -1)
  q_seg, kv_seg = _pad_axis(q_seg, 1, lq_pad), _pad_axis(kv_seg, 1, lk_pad)
  num_warps = p['num_warps'] or (4 if d <= 64 else 8)
  call = functools.partial(
      pl.pallas_call,
      interpret=p['interpret'],
      compiler_params=plgpu.CompilerParams(num_warps=num_warps, num_stages=p['num_stages']),
  )
  dims = dict(
      b=b,
      lq=lq,
      lk=lk,
      n=n,
      d=d,
      dp=dp,
      g=n // kv_heads,
      bq=bq,
      bk=bk,
      nq=lq_pad // bq,
      nk=lk_pad // bk,
      lq_pad=lq_pad,
      lk_pad=lk_pad,
      scale=d**-0.5,
  )
  return (q, k, v, spans, q_seg, kv_seg), dims, call


def _query_block_specs(s):
  """Specs for a (query block, batch, head) grid: q-side blocks, full k/v rows of the KV head."""
  g = s['g']
  q_block = pl.BlockSpec((None, s['bq'], None, s['dp']), lambda i, b, h: (b, i, h, 0))
  kv_full = pl.BlockSpec((None, s['lk_pad'], None, s['dp']), lambda i, b, h: (b, 0, h // g, 0))
  row_block = pl.BlockSpec((None, s['bq']), lambda i, b, h: (b, i))
  kv_row = pl.BlockSpec((None, s['lk_pad']), lambda i, b, h: (b, 0))
  stat_block = pl.BlockSpec((None, None, s['bq']), lambda i, b, h: (b, h, i))
  return q_block, kv_full, row_block, kv_row, stat_block


def _forward(q, k, v, spans, q_seg, kv_seg, params):
  (q, k, v, spans, q_seg, kv_seg), s, call = _setup(q, k, v, spans, q_seg, kv_seg, params)
  q_block, kv_full, row_block, kv_row, stat_block = _query_block_specs(s)
  out, lse = call(
      functools.partial(_fwd_kernel, scale=s['scale'], block_k=s['bk'], lk=s['lk']),
      grid=(s['nq'], s['b'], s['n']),
      in_specs=[q_block, kv_full, kv_full, row_block, row_block, kv_row],
      out_specs=[q_block, stat_block],
      out_shape=[
          jax.ShapeDtypeStruct(q.shape, q.dtype),
          jax.ShapeDtypeStruct((s['b'], s['n'], s['lq_pad']), jnp.float32),
      ],
      name='span_attention_fwd',
  )(q, k, v, spans, q_seg, kv_seg)
  return out[:, : s['lq'], :, : s['d']], lse


@functools.partial(jax.custom_vjp, nondiff_argnums=(6,))
def _attention(q, k, v, spans, q_seg, kv_seg, params):
  return _forward(q, k, v, spans, q_seg, kv_seg, params)[0]


def _attention_fwd(q, k, v, spans, q_seg, kv_seg, params):
  out, lse = _forward(q, k, v, spans, q_seg, kv_seg, params)
  return out, (q, k, v, spans, q_seg, kv_seg, out, lse)


def _attention_bwd(params, res, dout):
  q0, k0, v0, spans0, q_seg0, kv_seg0, out, lse = res
  # delta_i = dO_i . O_i (natural-log softmax Jacobian term), in XLA.
  delta = jnp.einsum('bqnd,bqnd->bnq', dout.astype(jnp.float32), out.astype(jnp.float32))
  (q, k, v, spans, q_seg, kv_seg), s, call = _setup(q0, k0, v0, spans0, q_seg0, kv_seg0, params)
  do = _pad_axis(_pad_axis(dout, 3, s['dp']), 1, s['lq_pad'])
  delta = _pad_axis(delta, 2, s['lq_pad'])
  q_block, kv_full, row_block, kv_row, stat_block = _query_block_specs(s)
  dq = call(
      functools.partial(_dq_kernel, scale=s['scale'], block_k=s['bk'], lk=s['lk']),
      grid=(s['nq'], s['b'], s['n']),
      in_specs=[
          q_block,
          kv_full,
          kv_full,
          row_block,
          row_block,
          kv_row,
          q_block,
          stat_block,
          stat_block,
      ],
      out_specs=q_block,
      out_shape=jax.ShapeDtypeStruct(q.shape, jnp.float32),
      name='span_attention_dq',
  )(q, k, v, spans, q_seg, kv_seg, do, lse, delta)

  # dk, dv: grid over (key block, batch, query head); per-head results summed per KV head below.
  g, bk, bq, nq = s['g'], s['bk'], s['bq'], s['nq']
  nq_pow2 = max(16, pl.next_power_of_2(nq))
  qmax = _pad_axis(spans.reshape(s['b'], nq, bq).max(axis=2), 1, nq_pow2, -1)
  q_full = pl.BlockSpec((None, s['lq_pad'], None, s['dp']), lambda j, b, h: (b, 0, h, 0))
  kv_block = pl.BlockSpec((None, bk, None, s['dp']), lambda j, b, h: (b, j, h // g, 0))
  dkv_block = pl.BlockSpec((None, bk, None, s['dp']), lambda j, b, h: (b, j, h, 0))
  q_row = pl.BlockSpec((None, s['lq_pad']), lambda j, b, h: (b, 0))
  kv_row_block = pl.BlockSpec((None, bk), lambda j, b, h: (b, j))
  stat_full = pl.BlockSpec((None, None, s['lq_pad']), lambda j, b, h: (b, h, 0))
  qmax_row = pl.BlockSpec((None, nq_pow2), lambda j, b, h: (b, 0))
  dkv_shape = jax.ShapeDtypeStruct((s['b'], s['lk_pad'], s['n'], s['dp']), jnp.float32)
  dk, dv = call(
      functools.partial(_dkv_kernel, scale=s['scale'], block_q=bq, num_q_blocks=nq, lk=s['lk']),
      grid=(s['nk'], s['b'], s['n']),
      in_specs=[
          q_full,
          kv_block,
          kv_block,
          q_row,
          q_row,
          kv_row_block,
          q_full,
          stat_full,
          stat_full,
          qmax_row,
      ],
      out_specs=[dkv_block, dkv_block],
      out_shape=[dkv_shape, dkv_shape],
      name='span_attention_dkv',
  )(q, k, v, spans, q_seg, kv_seg, do, lse, delta, qmax)

  def per_kv_head(x, like):
    x = x[:, : s['lk'], :, : s['d']]
    x = x.reshape(*x.shape[:2], -1, g, s['d']).sum(axis=3)
    return x.astype(like.dtype)

  dq = dq[:, : s['lq'], :, : s['d']].astype(q0.dtype)
  return dq, per_kv_head(dk, k0), per_kv_head(dv, v0), None, None, None


_attention.defvjp(_attention_fwd, _attention_bwd)
