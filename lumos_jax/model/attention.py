# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Attention from spans: query i sees key j iff j <= span[i] (and both share a segment).

Spans describe the Lumos-1 mask in O(L) (text causal, frames bidirectional inside, causal across;
see `layout.attention_spans`). Keys are indexed from 0: either the same sequence as the queries or
a left-aligned KV cache buffer whose slot index is the absolute position.

`dense_attention` is the reference: it materialises a [B, Lq, Lk] mask and is meant for tests and
short sequences. `attend` dispatches to the implementation named by `ModelConfig.attention_impl`
(see `lumos_jax.model.kernels`); 'auto' picks one per backend and sequence length.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from lumos_jax import parallel
from lumos_jax.model import kernels
from lumos_jax.model.kernels.blockwise import blockwise_attention

# Large negative instead of -inf so that fully masked rows (padding) give a uniform, finite softmax
# rather than NaN; 0.7 * max leaves headroom so adding it to a logit cannot overflow.
_MASK_VALUE = kernels.MASK_VALUE

# What 'auto' runs on each backend. On CPU (one fwd+bwd attention layer, 4-8 heads, min of 15
# interleaved runs): dense is faster for short sequences (x1.6 at B=8, L=192; even at L=384) and
# blockwise above (x1.6 at B=8, L=512; x3 at B=2, L=1024; x5 at L=4096), with linear instead of
# quadratic memory; hence dense up to _AUTO_DENSE_MAX_KEYS keys (see also docs/benchmarks.md).
# The Pallas GPU and splash TPU kernels are verified in interpret mode only (no accelerator has
# run them yet), so 'auto' keeps the portable blockwise kernel there until they are measured on
# hardware; select 'pallas_gpu' / 'splash_tpu' explicitly to use them.
AUTO_IMPL = {
    'cpu': 'blockwise',
    'gpu': 'blockwise',
    'cuda': 'blockwise',
    'rocm': 'blockwise',
    'tpu': 'blockwise',
}
_AUTO_DENSE_MAX_KEYS = {'cpu': 384}


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
  g = n // kv_heads
  # Head-major [B, K, G * Lq, D] queries and [B, K, Lk, D] keys/values: the score and value
  # matmuls are plain batched matmuls over (B, K), which XLA:CPU runs with fewer transposes of
  # the [.., Lq, Lk] scores than a grouped 5-D einsum (1.4x faster forward + backward at
  # B=8, L=192).
  qh = q.reshape(b, lq, kv_heads, g, d).transpose(0, 2, 3, 1, 4).reshape(b, kv_heads, g * lq, d)
  kh, vh = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)
  scores = jnp.einsum('bkqd,bksd->bkqs', qh, kh, preferred_element_type=jnp.float32)
  scores = scores.reshape(b, kv_heads, g, lq, lk) * (d**-0.5)
  mask = span_mask(q_spans, lk, q_segment_ids, kv_segment_ids)
  scores = jnp.where(mask[:, None, None], scores, _MASK_VALUE)
  probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype).reshape(b, kv_heads, g * lq, lk)
  out = jnp.einsum('bkqs,bksd->bkqd', probs, vh)
  return out.reshape(b, kv_heads, g, lq, d).transpose(0, 3, 1, 2, 4).reshape(b, lq, n, d)


def resolve_impl(impl: str, num_keys: int, backend: str | None = None) -> str:
  """The implementation `attend` runs for `impl`; 'auto' depends on the backend and key count."""
  if impl != 'auto':
    return impl
  backend = jax.default_backend() if backend is None else backend
  if num_keys <= _AUTO_DENSE_MAX_KEYS.get(backend, 0):
    return 'dense'
  return AUTO_IMPL.get(backend, 'blockwise')


def _per_shard(kernel, q, k, v, q_spans, q_segment_ids, kv_segment_ids):
  """Runs a Pallas kernel on each device's shard of batch and heads under a multi-device mesh.

  XLA cannot partition a Pallas call, so under `jax.set_mesh` with more than one device the
  kernel is wrapped in `jax.shard_map`, with batch and heads split as the logical-axis rules say
  ('act_batch', 'act_heads' / 'act_kv_heads'). Heads are split only when query and KV heads
  split the same way (each shard must hold whole GQA groups); sequences are never split.
  """
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty or mesh.size == 1:
    return kernel(q, k, v, q_spans, q_segment_ids, kv_segment_ids)
  b = q.shape[0]
  q_segment_ids, kv_segment_ids = kernels.segment_ids(q, k, q_segment_ids, kv_segment_ids)
  batch = parallel.logical_to_spec(('act_batch',), (b,), mesh)[0]
  heads = parallel.logical_to_spec(('act_heads',), q.shape[2:3], mesh)[0]
  kv_heads = parallel.logical_to_spec(('act_kv_heads',), k.shape[2:3], mesh)[0]
  heads = heads if heads == kv_heads else None
  act, rows = P(batch, None, heads, None), P(batch, None)
  return jax.shard_map(
      kernel, mesh=mesh, in_specs=(act, act, act, rows, rows, rows), out_specs=act, check_vma=False
  )(q, k, v, q_spans, q_segment_ids, kv_segment_ids)


def _kernel(impl: str, q, k, v, q_spans, q_segment_ids, kv_segment_ids):
  """`impl` on arrays that one device holds whole (no mesh handling)."""
  args = (q, k, v, q_spans, q_segment_ids, kv_segment_ids)
  if impl == 'dense':
    return dense_attention(*args)
  if impl == 'blockwise':
    return blockwise_attention(*args)
  if impl == 'pallas_gpu':
    from lumos_jax.model.kernels import pallas_gpu  # pylint: disable=g-import-not-at-top

    return pallas_gpu.pallas_attention(*args)
  if impl == 'splash_tpu':
    if q.shape[1] != k.shape[1]:
      return blockwise_attention(*args)
    from lumos_jax.model.kernels import splash_tpu  # pylint: disable=g-import-not-at-top

    return splash_tpu.splash_attention(*args)
  if impl == 'cudnn':
    from lumos_jax.model.kernels import cudnn  # pylint: disable=g-import-not-at-top

    return cudnn.cudnn_attention(*args)
  raise ValueError(f'unknown attention implementation {impl!r}')


def context_size() -> int:
  """Size of the current mesh's 'context' axis (1 without context parallelism)."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty or parallel.CONTEXT_AXIS not in mesh.axis_names:
    return 1
  return mesh.shape[parallel.CONTEXT_AXIS]


def _context_parallel(impl, q, k, v, q_spans, q_segment_ids, kv_segment_ids):
  """Self-attention of a sequence split over the mesh's 'context' axis.

  Each device holds a contiguous piece of the queries, keys and values; it all-gathers the keys
  and values (and their segment ids) along 'context' and attends its queries to the whole
  sequence. Spans are absolute key indices, so the frame-causal mask needs no change, and the
  backward of the all-gather (a reduce-scatter) returns each device its keys' and values'
  gradients. Batch and heads stay split as the rules say. Work is not balanced: a piece late in
  the sequence sees more keys (the last of C pieces about 2C / (C + 1) times the mean).
  """
  mesh = jax.sharding.get_abstract_mesh()
  c = mesh.shape[parallel.CONTEXT_AXIS]
  if q.shape[1] % c:
    raise ValueError(
        f'sequence length {q.shape[1]} does not split over mesh.context={c}: make '
        'data.length_buckets multiples of it'
    )
  q_segment_ids, kv_segment_ids = kernels.segment_ids(q, k, q_segment_ids, kv_segment_ids)
  batch = parallel.logical_to_spec(('act_batch',), q.shape[:1], mesh)[0]
  heads = parallel.logical_to_spec(('act_heads',), q.shape[2:3], mesh)[0]
  kv_heads = parallel.logical_to_spec(('act_kv_heads',), k.shape[2:3], mesh)[0]
  heads = heads if heads == kv_heads else None
  axis = parallel.CONTEXT_AXIS
  act, rows = P(batch, axis, heads, None), P(batch, axis)

  def local(q, k, v, spans, q_seg, kv_seg):
    k, v, kv_seg = (jax.lax.all_gather(x, axis, axis=1, tiled=True) for x in (k, v, kv_seg))
    return _kernel(impl, q, k, v, spans, q_seg, kv_seg)

  return jax.shard_map(
      local, mesh=mesh, in_specs=(act, act, act, rows, rows, rows), out_specs=act, check_vma=False
  )(q, k, v, q_spans, q_segment_ids, kv_segment_ids)


def attend(q, k, v, q_spans, q_segment_ids=None, kv_segment_ids=None, *, impl: str = 'dense'):
  """Span attention (arguments and result as `dense_attention`) with the chosen implementation.

  Args:
    impl: 'dense' (reference), 'blockwise' (XLA, any backend), 'pallas_gpu' (Triton kernels),
      'splash_tpu' (TPU splash kernel; self-attention only, a KV-cache chunk call with Lq != Lk
      runs blockwise), 'cudnn' (`jax.nn.dot_product_attention` when the mask is plain causal or a
      per-row key bound, blockwise otherwise) or 'auto' (`resolve_impl`: per backend, and
      dense for short sequences on CPU). On CPU the Pallas
      kernels run in the (slow) Pallas interpreter, for tests.

  Under a mesh with a 'context' axis (context parallelism), self-attention runs on each device's
  piece of the sequence against the gathered keys (`_context_parallel`).
  """
  impl = resolve_impl(impl, k.shape[1])
  args = (q, k, v, q_spans, q_segment_ids, kv_segment_ids)
  if context_size() > 1 and q.shape[1] == k.shape[1]:
    return _context_parallel(impl, *args)
  if impl in ('pallas_gpu', 'splash_tpu') and not (
      impl == 'splash_tpu' and q.shape[1] != k.shape[1]
  ):
    return _per_shard(functools.partial(_kernel, impl), *args)
  return _kernel(impl, *args)
