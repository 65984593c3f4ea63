# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Span attention on TPU with splash attention (`jax.experimental.pallas.ops.tpu`).

Splash masks are static (fixed when the kernel is built) and segment ids are the only per-example
input, so a span mask, which differs per item, cannot be handed to one splash call. But the spans
of `layout.attention_spans` are block-structured: a token either sees up to itself (text, span =
own index) or up to the end of its frame, and every key between a frame token and its span has the
same span. Hence, for self-attention,

  j <= span[i]   <=>   j <= i                               (pass 1: static causal mask)
                  or   j > i  and  span[j] == span[i]        (pass 2: static strictly-upper mask,
                                                             segment ids = spans)

(each pass also requires equal segment ids). The two passes are disjoint, so their softmaxes merge
exactly through their logsumexps. The backward runs splash's own backward kernels once per pass
with the merged output and logsumexp, which yields exactly that pass's share of the gradient; the
shares add up. The backward entry point is splash's private `_splash_attention_bwd` (jax 0.10.2,
pinned in constraints.txt).

Limitations: (1) self-attention only (Lq == Lk); `attend` runs KV-cache chunk calls blockwise.
(2) Spans must be block-structured as above (true for `layout.attention_spans` with either
attention_mask; arbitrary spans are not). (3) Pass 2's static mask is the whole upper triangle
unless `max_frame_len` bounds it to a band, so without that bound the kernel computes about as
many blocks as unmasked attention (splash cannot skip blocks from segment ids).
Runs on CPU with `interpret=True` (how the tests check it, also per shard under a multi-device
mesh via `attention.attend`); not yet run on a TPU.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as splash
from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_mask as mask_lib

from lumos_jax.model.kernels import segment_ids

DEFAULT_BLOCK = 512
_LANES = 128  # TPU tiles: sequence blocks are multiples of 128


def _cdiv(a, b):
  return -(-a // b)


@functools.lru_cache(maxsize=32)
def _kernels(length: int, groups: int, block: int, band: int | None, interpret: bool):
  """(causal kernel, strictly-upper kernel) for `groups` query heads sharing one KV head."""
  sizes = splash.BlockSizes(
      block_q=block,
      block_kv=block,
      block_kv_compute=block,
      block_q_dkv=block,
      block_kv_dkv=block,
      block_kv_dkv_compute=block,
      block_q_dq=block,
      block_kv_dq=block,
  )
  shape = (length, length)
  causal = mask_lib.CausalMask(shape)
  # window (-1, band): q + 1 <= kv <= q + band, i.e. strictly above the diagonal.
  upper = mask_lib.LocalMask(shape, window_size=(-1, band), offset=0)
  make = functools.partial(
      splash.make_splash_mqa_single_device,
      block_sizes=sizes,
      save_residuals=True,
      interpret=interpret,
  )
  # The kernels hold their mask tables as arrays; build them as constants, not as tracers of
  # whichever trace first asked (they are cached across traces).
  with jax.ensure_compile_time_eval():
    return (
        make(mask_lib.MultiHeadMask([causal] * groups)),
        make(mask_lib.MultiHeadMask([upper] * groups)),
    )


def splash_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    q_spans: jax.Array,
    q_segment_ids: jax.Array | None = None,
    kv_segment_ids: jax.Array | None = None,
    *,
    block: int = DEFAULT_BLOCK,
    max_frame_len: int | None = None,
    interpret: bool | None = None,
) -> jax.Array:
  """Self-attention with block-structured spans (see the module docstring).

  Args:
    q: [B, L, N, D]; k, v: [B, L, K, D] with K dividing N.
    q_spans: int [B, L] from `layout.attention_spans` (keys share the queries' spans).
    q_segment_ids, kv_segment_ids: optional non-negative int [B, L].
    block: splash block size (rounded to a multiple of 128 and clipped to the padded length).
    max_frame_len: optional bound on tokens per bidirectional frame; bands pass 2.
    interpret: run the Pallas TPU kernels in the interpreter (slow: for tests); default: only on
      CPU.

  Returns:
    [B, L, N, D] in v's dtype.
  """
  length, n = q.shape[1:3]
  if k.shape[1] != length:
    raise ValueError(f'splash_attention is self-attention only, got Lq={length}, Lk={k.shape[1]}')
  q_segment_ids, kv_segment_ids = segment_ids(q, k, q_segment_ids, kv_segment_ids)
  if interpret is None:
    interpret = jax.default_backend() == 'cpu'
  padded = _cdiv(length, _LANES) * _LANES
  blk = min(_cdiv(block, _LANES) * _LANES, padded)
  padded = _cdiv(padded, blk) * blk
  band = None if max_frame_len is None else max(1, max_frame_len - 1)
  config = (padded, n // k.shape[2], blk, band, interpret)
  return _attention(
      q,
      k,
      v,
      q_spans.astype(jnp.int32),
      q_segment_ids.astype(jnp.int32),
      kv_segment_ids.astype(jnp.int32),
      config,
  )


def _segments(spans, q_seg, kv_seg, padded):
  """Padded segment ids of both passes ((q, kv) pairs of [B, L']) and which rows pass 2 sees.

  Pass 2 groups tokens by (span, segment): one id per frame, unique for causal tokens. Padding
  rows get their own segment (-1, shifted to 0) and see only padding keys.
  """
  b, length = spans.shape
  pad = ((0, 0), (0, padded - length))
  idx = jnp.broadcast_to(jnp.arange(padded, dtype=jnp.int32), (b, padded))
  q_seg, kv_seg = jnp.pad(q_seg + 1, pad), jnp.pad(kv_seg + 1, pad)
  spans = jnp.where(idx < length, jnp.pad(spans, pad), idx)
  base = jnp.maximum(q_seg.max(), kv_seg.max()) + 1
  has_upper = spans > idx  # a later key shares the span: the row is inside a frame
  return (q_seg, kv_seg), (spans * base + q_seg, spans * base + kv_seg), has_upper


def _to_heads(x, padded, groups):
  """[B, L, H, D] -> [B, K, G, L', D] (query side) or [B, K, L', D] (groups=None, KV side)."""
  x = jnp.pad(x, ((0, 0), (0, padded - x.shape[1]), (0, 0), (0, 0)))
  if groups is None:
    return jnp.moveaxis(x, 1, 2)
  b, _, n, d = x.shape
  return jnp.moveaxis(x.reshape(b, padded, n // groups, groups, d), 1, 3)


def _per_head(fn):
  """vmaps fn over batch and KV heads; segment ids vary only over the batch."""
  inner = jax.vmap(fn, in_axes=(0, 0, 0, None, None))
  return jax.vmap(inner, in_axes=(0, 0, 0, 0, 0))


def _forward(q, k, v, spans, q_seg, kv_seg, config):
  padded, groups, _, _, _ = config
  b, length, n, d = q.shape
  causal, upper = _kernels(*config)
  seg1, seg2, has_upper = _segments(spans, q_seg, kv_seg, padded)
  qh = _to_heads(q * jnp.asarray(d**-0.5, q.dtype), padded, groups)
  kh, vh = _to_heads(k, padded, None), _to_heads(v, padded, None)

  def run(kernel):
    def fn(qi, ki, vi, sq, skv):
      out, (lse,) = kernel(qi, ki, vi, segment_ids=splash.SegmentIds(q=sq, kv=skv))
      return out, lse

    return fn

  o1, lse1 = _per_head(run(causal))(qh, kh, vh, *seg1)
  o2, lse2 = _per_head(run(upper))(qh, kh, vh, *seg2)
  # Pass 1 always sees the query itself; pass 2 may see nothing (text, last frame token), where
  # splash's statistics are meaningless: zero its weight explicitly.
  has_upper = has_upper[:, None, None, :]
  lse = jnp.where(has_upper, jnp.logaddexp(lse1, jnp.where(has_upper, lse2, -jnp.inf)), lse1)
  w1 = jnp.exp(lse1 - lse)[..., None]
  w2 = jnp.where(has_upper, jnp.exp(jnp.where(has_upper, lse2, 0.0) - lse), 0.0)[..., None]
  o2 = jnp.where(has_upper[..., None], o2.astype(jnp.float32), 0.0)
  out = (w1 * o1.astype(jnp.float32) + w2 * o2).astype(v.dtype)  # [B, K, G, L', D]
  res = (qh, kh, vh, seg1, seg2, out, lse)
  out = jnp.moveaxis(out, 3, 1).reshape(b, padded, n, d)[:, :length]
  return out, res


@functools.partial(jax.custom_vjp, nondiff_argnums=(6,))
def _attention(q, k, v, spans, q_seg, kv_seg, config):
  return _forward(q, k, v, spans, q_seg, kv_seg, config)[0]


def _attention_fwd(q, k, v, spans, q_seg, kv_seg, config):
  out, res = _forward(q, k, v, spans, q_seg, kv_seg, config)
  return out, res


def _collapse(info):
  """As splash's `_splash_attention` does before its custom_vjp: merge leading block dims."""
  if info is None or info.partial_mask_blocks is None:
    return info
  blocks = info.partial_mask_blocks
  return info._replace(partial_mask_blocks=blocks.reshape(-1, *blocks.shape[-2:]))


def _attention_bwd(config, saved, dout):
  qh, kh, vh, seg1, seg2, out, lse = saved
  padded, groups, _, _, _ = config
  b, length, n, d = dout.shape
  do = _to_heads(dout.astype(out.dtype), padded, groups)

  def grads(kernel):
    kw = kernel.kwargs

    def fn(qi, ki, vi, oi, lsei, doi, sq, skv):
      res = (
          qi,
          ki,
          vi,
          splash.SegmentIds(q=sq, kv=skv),
          None,
          oi,
          lsei,
          _collapse(kernel.dq_mask_info),
          _collapse(kernel.dkv_mask_info),
      )
      _, _, _, dq, dk, dv, _, _ = splash._splash_attention_bwd(  # pylint: disable=protected-access
          False,
          kw['mask_value'],
          kw['is_mqa'],
          kw['block_sizes'],
          None,
          kw['mask_function'],
          kw['attn_logits_soft_cap'],
          kw['interpret'],
          res,
          doi,
      )
      return dq, dk, dv

    inner = jax.vmap(fn, in_axes=(0, 0, 0, 0, 0, 0, None, None))
    return jax.vmap(inner)

  total = None
  for kernel, seg in zip(_kernels(*config), (seg1, seg2)):
    g = grads(kernel)(qh, kh, vh, out, lse, do, *seg)
    g = tuple(x.astype(jnp.float32) for x in g)
    total = g if total is None else tuple(a + c for a, c in zip(total, g))
  dq, dk, dv = total
  dq = jnp.moveaxis(dq, 3, 1).reshape(b, padded, n, d)[:, :length] * d**-0.5
  dk = jnp.moveaxis(dk, 2, 1)[:, :length]
  dv = jnp.moveaxis(dv, 2, 1)[:, :length]
  return dq.astype(qh.dtype), dk.astype(kh.dtype), dv.astype(vh.dtype), None, None, None


_attention.defvjp(_attention_fwd, _attention_bwd)
