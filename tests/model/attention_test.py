# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Every attention implementation against the dense reference: values and gradients.

Spans and padding segments come from real item layouts (`layout.build_item`, demo vocabulary), q/k/v
are random float32 with GQA (4 query heads on 2 KV heads). Tolerance: |a - b| <= 2e-5 + 2e-5 |b|
for values and gradients (observed differences are ~1e-6; they come from a different summation
order only). Pallas kernels run in interpret mode, so the GPU/TPU code paths are checked on CPU.
"""

import dataclasses
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lumos_jax import layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.model import (
    ModelConfig,
    attention,
    create_model,
    init_cache,
    logits,
    prepare_inputs,
)
from lumos_jax.model.kernels import blockwise, cudnn, pallas_gpu, splash_tpu

V = vocab_lib.demo(codebook_size=64)
TOL = dict(atol=2e-5, rtol=2e-5)
N, K, D = 4, 2, 32


def _tokens(frame_causal=True):
  """Two right-padded items with different prompt lengths, frame counts and resolutions."""
  rng = np.random.default_rng(0)
  items = []
  for text, frames, (h, w) in ((b'a red dot', 3, (3, 3)), (b'two blue squares', 2, (4, 4))):
    codes = [rng.integers(0, V.codebook_size, (h, w)) for _ in range(frames)]
    items.append(
        layout.build_item(
            [V.byte_offset + c for c in text], codes, V, duration=frames, fps=1
        ).tokens
    )
  tokens = np.full((2, max(map(len, items)) + 5), V.pad, np.int32)
  for i, item in enumerate(items):
    tokens[i, : len(item)] = item
  spans = layout.attention_spans(tokens, V, frame_causal)
  return jnp.asarray(spans), jnp.asarray(layout.segment_ids(tokens, V))


def _qkv(lq, lk, seed=0, batch=2):
  ks = jax.random.split(jax.random.key(seed), 4)
  return (
      jax.random.normal(ks[0], (batch, lq, N, D)),
      jax.random.normal(ks[1], (batch, lk, K, D)),
      jax.random.normal(ks[2], (batch, lk, K, D)),
      jax.random.normal(ks[3], (batch, lq, N, D)),
  )


def _value_and_grads(fn, q, k, v, cotangent, *mask_args):
  loss = lambda q, k, v: jnp.sum(fn(q, k, v, *mask_args) * cotangent)
  out = jax.jit(fn)(q, k, v, *mask_args)
  return out, jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(q, k, v)


def _check(fn, q, k, v, cotangent, *mask_args, rows=None):
  """fn matches dense_attention (on `rows` of the output if given) in value and q/k/v grads."""
  out, grads = _value_and_grads(fn, q, k, v, cotangent, *mask_args)
  ref, ref_grads = _value_and_grads(attention.dense_attention, q, k, v, cotangent, *mask_args)
  rows = slice(None) if rows is None else rows
  np.testing.assert_allclose(out[:, rows], ref[:, rows], **TOL)
  for name, g, r in zip('qkv', grads, ref_grads):
    np.testing.assert_allclose(g, r, **TOL, err_msg=f'd{name}')


def _cache_call(length=40, cache_size=64, start=20, chunk=12):
  """A KV-cache chunk call: queries [start, start + chunk), keys the whole cache buffer.

  Slots past the committed positions hold stale values (never visible by the spans).
  """
  spans, _ = _tokens()
  spans = spans[:, start : start + chunk]
  q, k, v, ct = _qkv(chunk, cache_size, seed=1)
  return q, k, v, ct, spans


@pytest.mark.parametrize(
    'frame_causal,block_q,block_k', [(True, 16, 16), (False, 7, 13), (True, None, None)]
)
def test_blockwise_matches_dense(frame_causal, block_q, block_k):
  spans, seg = _tokens(frame_causal)
  q, k, v, ct = _qkv(spans.shape[1], spans.shape[1])
  fn = lambda *a: blockwise.blockwise_attention(*a, block_q=block_q, block_k=block_k)
  _check(fn, q, k, v, ct, spans, seg, seg)


def test_blockwise_kv_cache_chunk():
  q, k, v, ct, spans = _cache_call()
  fn = lambda *a: blockwise.blockwise_attention(*a, block_q=8, block_k=16)
  _check(fn, q, k, v, ct, spans)


@pytest.mark.parametrize(
    'kernel',
    [blockwise.blockwise_attention, pallas_gpu.pallas_attention, splash_tpu.splash_attention],
)
def test_kernels_need_both_segment_ids_or_neither(kernel):
  spans, seg = _tokens()
  q, k, v, _ = _qkv(spans.shape[1], spans.shape[1])
  with pytest.raises(ValueError, match='pass both q_segment_ids and kv_segment_ids, or neither'):
    kernel(q, k, v, spans, seg)
  with pytest.raises(ValueError, match='pass both'):
    kernel(q, k, v, spans, None, seg)


def test_no_segment_ids_is_one_segment():
  spans, _ = _tokens()
  q, k, v, _ = _qkv(spans.shape[1], spans.shape[1])
  zeros = jnp.zeros(spans.shape, jnp.int32)
  np.testing.assert_array_equal(
      blockwise.blockwise_attention(q, k, v, spans),
      blockwise.blockwise_attention(q, k, v, spans, zeros, zeros),
  )


def test_blockwise_never_reads_key_blocks_beyond_the_spans():
  # NaN keys/values in cache blocks no span reaches: dense would propagate them (0 * NaN), the
  # blockwise kernel must not even load those blocks.
  q, k, v, _, spans = _cache_call(cache_size=64, start=20, chunk=12)
  last_block_end = (int(spans.max()) // 16 + 1) * 16
  k = k.at[:, last_block_end:].set(jnp.nan)
  v = v.at[:, last_block_end:].set(jnp.nan)
  out = blockwise.blockwise_attention(q, k, v, spans, block_q=16, block_k=16)
  assert np.isfinite(np.asarray(out)).all()


def test_blockwise_bfloat16_close_to_dense():
  spans, seg = _tokens()
  q, k, v, _ = _qkv(spans.shape[1], spans.shape[1])
  q, k, v = (x.astype(jnp.bfloat16) for x in (q, k, v))
  out = blockwise.blockwise_attention(q, k, v, spans, seg, seg, block_q=16, block_k=16)
  ref = attention.dense_attention(q, k, v, spans, seg, seg)
  assert out.dtype == jnp.bfloat16
  np.testing.assert_allclose(out.astype(jnp.float32), ref.astype(jnp.float32), atol=2e-2)


def test_blockwise_memory_grows_linearly():
  """Compiled fwd+bwd temp memory: x2 length gives ~x2 bytes (dense would give ~x4)."""

  def temp_bytes(length):
    q = jax.ShapeDtypeStruct((1, length, N, D), jnp.float32)
    kv = jax.ShapeDtypeStruct((1, length, K, D), jnp.float32)
    spans = jax.ShapeDtypeStruct((1, length), jnp.int32)
    fn = lambda q, k, v, s: jnp.sum(
        blockwise.blockwise_attention(q, k, v, s, block_q=128, block_k=128)
    )
    compiled = jax.jit(jax.grad(fn, argnums=(0, 1, 2))).lower(q, kv, kv, spans).compile()
    return compiled.memory_analysis().temp_size_in_bytes

  small, large = temp_bytes(2048), temp_bytes(4096)
  assert large < 2.5 * small, (small, large)
  assert large < 4096 * 4096 * 4  # far below one float32 [L, L] score matrix


def test_pallas_gpu_interpret_matches_dense():
  spans, seg = _tokens()
  q, k, v, ct = _qkv(spans.shape[1], spans.shape[1])
  fn = lambda *a: pallas_gpu.pallas_attention(*a, block_q=16, block_k=32, interpret=True)
  _check(fn, q, k, v, ct, spans, seg, seg)


def test_pallas_gpu_interpret_kv_cache_chunk():
  q, k, v, ct, spans = _cache_call()
  fn = lambda *a: pallas_gpu.pallas_attention(*a, block_q=16, block_k=16, interpret=True)
  _check(fn, q, k, v, ct, spans)


def test_splash_tpu_interpret_matches_dense():
  spans, seg = _tokens()
  q, k, v, ct = _qkv(spans.shape[1], spans.shape[1])
  fn = lambda *a: splash_tpu.splash_attention(*a, block=128, interpret=True)
  _check(fn, q, k, v, ct, spans, seg, seg)


def test_splash_tpu_rejects_cache_chunks_and_attend_falls_back():
  q, k, v, _, spans = _cache_call()
  with pytest.raises(ValueError, match='self-attention only'):
    splash_tpu.splash_attention(q, k, v, spans, interpret=True)
  np.testing.assert_allclose(
      attention.attend(q, k, v, spans, impl='splash_tpu'),
      attention.dense_attention(q, k, v, spans),
      **TOL,
  )


def test_cudnn_path_choice():
  spans, seg = _tokens()
  length = spans.shape[1]
  causal = jnp.broadcast_to(jnp.arange(length), spans.shape)
  bound = jnp.array([[30] * 12, [50] * 12])
  assert int(cudnn.mask_case(causal, None, None, length)) == 0
  assert int(cudnn.mask_case(causal, seg, seg, length)) == 2  # padding: needs segments
  assert int(cudnn.mask_case(bound, None, None, 64)) == 1
  assert int(cudnn.mask_case(spans, None, None, length)) == 2  # frames
  assert not cudnn.fits_cudnn(jnp.zeros((1, 8, 4, 32), jnp.float32))
  assert cudnn.fits_cudnn(jnp.zeros((1, 8, 4, 32), jnp.bfloat16))


@pytest.mark.parametrize('case', ['causal', 'key_bound', 'frames_fallback'])
def test_cudnn_matches_dense(case):
  """The cudnn code path with implementation='xla' (the same call, CPU numerics)."""
  fn = lambda *a: cudnn.cudnn_attention(*a, implementation='xla')
  if case == 'key_bound':
    q, k, v, ct, spans = _cache_call()
    spans = jnp.broadcast_to(spans[:, -1:], spans.shape)  # one frame: all see up to its end
    _check(fn, q, k, v, ct, spans)
    return
  spans, seg = _tokens(frame_causal=case != 'causal')
  q, k, v, ct = _qkv(spans.shape[1], spans.shape[1])
  if case == 'causal':
    _check(fn, q, k, v, ct, spans)
  else:
    _check(fn, q, k, v, ct, spans, seg, seg)


def test_attend_dispatch_and_auto():
  spans, seg = _tokens()
  q, k, v, _ = _qkv(spans.shape[1], spans.shape[1])
  ref = attention.dense_attention(q, k, v, spans, seg, seg)
  for impl in ('blockwise', 'cudnn', 'auto'):  # cudnn: float32 falls back to blockwise on CPU
    np.testing.assert_allclose(attention.attend(q, k, v, spans, seg, seg, impl=impl), ref, **TOL)
  assert attention.resolve_impl('auto', 384, 'cpu') == 'dense'
  assert attention.resolve_impl('auto', 512, 'cpu') == 'blockwise'
  # accelerator kernels are opt-in until measured on hardware
  assert attention.resolve_impl('auto', 128, 'gpu') == 'blockwise'
  assert attention.resolve_impl('auto', 128, 'tpu') == 'blockwise'
  assert attention.resolve_impl('cudnn', 8192, 'cpu') == 'cudnn'
  with pytest.raises(ValueError, match='unknown attention implementation'):
    attention.attend(q, k, v, spans, impl='flash')
  with pytest.raises(ValueError, match='attention_impl'):
    ModelConfig(
        vocab_size=V.size,
        embed_dim=64,
        num_layers=1,
        num_heads=4,
        num_kv_heads=2,
        head_dim=32,
        mlp_dim=64,
        attention_impl='flash',
    )


CFG = ModelConfig(
    vocab_size=V.size,
    embed_dim=64,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    head_dim=32,
    mlp_dim=128,
    init_std=0.1,
)


def _item_tokens():
  rng = np.random.default_rng(3)
  codes = [rng.integers(0, V.codebook_size, (3, 3)) for _ in range(3)]
  return layout.build_item(
      [V.byte_offset + c for c in b'a dot'], codes, V, duration=3, fps=1
  ).tokens[None]


def test_model_logits_and_cache_path_blockwise_equal_dense():
  dense = create_model(CFG, seed=0)
  fast = create_model(dataclasses.replace(CFG, attention_impl='blockwise'), seed=0)
  tokens = _item_tokens()
  np.testing.assert_allclose(logits(fast, tokens, V), logits(dense, tokens, V), **TOL)
  # KV-cache path: prefill a prefix, then one chunk against the cache buffer.
  inputs = prepare_inputs(tokens, V, CFG)
  split = tokens.shape[1] - 16
  hidden = []
  for model in (dense, fast):
    cache = init_cache(model.config, batch=1, size=tokens.shape[1] + 8)
    _, cache = model(inputs[:, :split], cache=cache)
    hidden.append(model(inputs[:, split:], cache=cache.advance(split))[0])
  np.testing.assert_allclose(hidden[1], hidden[0], **TOL)


def test_model_logits_pallas_gpu_interpret_equal_dense():
  tokens = _item_tokens()
  pallas = create_model(dataclasses.replace(CFG, attention_impl='pallas_gpu'), seed=0)
  dense = create_model(CFG, seed=0)
  np.testing.assert_allclose(logits(pallas, tokens, V), logits(dense, tokens, V), **TOL)


def test_model_gradients_blockwise_under_remat_equal_dense():
  """The custom VJP inside the scanned, rematerialised layer stack gives dense's gradients."""
  from flax import nnx  # pylint: disable=g-import-not-at-top

  tokens = _item_tokens()
  inputs = prepare_inputs(tokens, V, CFG)
  weights = jax.random.normal(jax.random.key(0), (*tokens.shape, CFG.embed_dim))

  def grads(config):
    graphdef, params = nnx.split(create_model(config, seed=0))

    def loss(params):
      model = nnx.merge(graphdef, params)
      hidden, _ = model(inputs)
      return jnp.sum(hidden * weights)

    return jax.tree.leaves(jax.jit(jax.grad(loss))(params))

  ref = grads(CFG)
  for remat in ('full', 'dots'):
    got = grads(dataclasses.replace(CFG, attention_impl='blockwise', remat_policy=remat))
    for g, r in zip(got, ref):  # float32 sums over the sequence: tolerance relative to the leaf
      np.testing.assert_allclose(g, r, atol=2e-5 * float(np.abs(r).max()), rtol=1e-4)


_SHARDED_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from lumos_jax import parallel
    from lumos_jax.model import attention
    spans = jnp.asarray(np.minimum((np.arange(64) // 8) * 8 + 7, 63)[None].repeat(4, 0))
    seg = jnp.ones((4, 64), jnp.int32)
    ks = jax.random.split(jax.random.key(0), 3)
    q = jax.random.normal(ks[0], (4, 64, 4, 32))
    k, v = (jax.random.normal(x, (4, 64, 2, 32)) for x in ks[1:])
    ref = attention.dense_attention(q, k, v, spans, seg, seg)
    mesh = parallel.make_mesh((2, 1, 2))
    for impl in ('pallas_gpu', 'splash_tpu'):
      with jax.set_mesh(mesh):
        out = jax.jit(lambda *a: attention.attend(*a, impl=impl))(q, k, v, spans, seg, seg)
      np.testing.assert_allclose(out, ref, atol=2e-5, rtol=2e-5)
    print('ok')
""")


def test_pallas_kernels_run_per_shard_on_a_mesh():
  """On a 2 (data) x 2 (tensor) mesh of fake CPU devices the kernels run under shard_map."""
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env['XLA_FLAGS'] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4"
  proc = subprocess.run(
      [sys.executable, '-c', _SHARDED_SCRIPT], env=env, capture_output=True, text=True, timeout=300
  )
  assert proc.returncode == 0 and proc.stdout.strip().endswith('ok'), proc.stderr[-4000:]
