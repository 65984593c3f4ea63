# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Decoder behaviour: attention dependency structure, KV cache, config validation, remat."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lumos_jax import layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.model import ModelConfig, create_model, init_cache, logits, prepare_inputs

V = vocab_lib.demo(codebook_size=64)
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
TEXT = [V.byte_offset + c for c in b'a red dot']
H = W = 3
BLOCK = H * (W + 1) + 4


@pytest.fixture(scope='module')
def model():
  return create_model(CFG, seed=0)


def _item(seed=0, frames=3):
  rng = np.random.default_rng(seed)
  codes = [rng.integers(0, V.codebook_size, (H, W)) for _ in range(frames)]
  return layout.build_item(TEXT, codes, V, duration=3, fps=1).tokens


def _frame_slice(k):
  start = 1 + len(TEXT) + 1 + 3 + k * BLOCK
  return slice(start, start + BLOCK)


def _changed(a, b, atol=1e-6):
  """Per position: did the logits change?"""
  return np.abs(np.asarray(a) - np.asarray(b)).max(-1) > atol


def test_later_frame_never_changes_earlier_logits(model):
  tokens = _item()
  base = logits(model, tokens[None], V)[0]
  for k in range(2):
    other = tokens.copy()
    later = _frame_slice(k + 1)
    other[later.start + 3 + 1] = (
        V.visual_offset + (tokens[later.start + 3 + 1] - V.visual_offset + 1) % V.codebook_size
    )
    changed = _changed(base, logits(model, other[None], V)[0])
    assert not changed[: later.start].any(), f'frame {k + 1} leaked into earlier positions'
    assert changed[later].all()


def test_frame_is_bidirectional_and_text_causal(model):
  tokens = _item()
  base = logits(model, tokens[None], V)[0]
  frame = _frame_slice(1)
  other = tokens.copy()
  last_code = frame.stop - 3  # last code of the last row
  other[last_code] = V.visual_offset + (tokens[last_code] - V.visual_offset + 7) % V.codebook_size
  changed = _changed(base, logits(model, other[None], V)[0])
  assert changed[frame].all(), 'every position of the frame (image_start..image_end) must see it'
  assert not changed[: frame.start].any()
  # text: changing text token j changes positions >= j only
  j = 4
  other = tokens.copy()
  other[j] = V.byte_offset + ord('z')
  changed = _changed(base, logits(model, other[None], V)[0])
  assert not changed[:j].any() and changed[j:].all()


def test_padding_does_not_change_logits(model):
  tokens = _item()
  padded = np.zeros((2, len(tokens) + 6), np.int32)
  padded[0, : len(tokens)] = tokens
  padded[1, : len(tokens) - BLOCK - 1] = tokens[: -BLOCK - 1]
  out = logits(model, padded, V)
  np.testing.assert_allclose(out[0, : len(tokens)], logits(model, tokens[None], V)[0], atol=1e-5)
  short = tokens[: -BLOCK - 1]
  np.testing.assert_allclose(out[1, : len(short)], logits(model, short[None], V)[0], atol=1e-5)


def test_kv_cache_matches_full_forward(model):
  """Prefix, then a frame chunk against the cache == full forward (per-row lengths, overwrite)."""
  seqs = [_item(seed=1), _item(seed=2)]
  seqs[1] = np.concatenate([seqs[1][:1], [V.byte_offset + 1] * 4, seqs[1][1:]])  # longer text
  frame = [_frame_slice(2)] * 2
  frame[1] = slice(frame[1].start + 4, frame[1].stop + 4)
  prefix_len = np.array([f.start for f in frame])
  width = max(len(s) for s in seqs)
  full = np.zeros((2, width), np.int32)
  for r, s in enumerate(seqs):
    full[r, : len(s)] = s
  inputs = prepare_inputs(full, V, CFG)
  want = np.asarray(logits(model, full, V))

  cache = init_cache(CFG, batch=2, size=width + 8)
  _, cache = model(inputs[:, : prefix_len.max()], cache=cache)
  cache = cache.with_lengths(prefix_len)  # commit each row's real prefix

  def chunk(tokens):
    rows = [prepare_inputs(tokens, V, CFG)[r : r + 1, frame[r]] for r in range(2)]
    return jax.tree.map(lambda *x: jnp.concatenate(x), *rows)

  # a MaskGIT-like step on a fully masked frame, then the real frame overwriting it
  masked = full.copy()
  for r in range(2):
    masked[r, frame[r]] = layout.masked_frame_block(H, W, V)
  _, cache = model(chunk(masked), cache=cache)
  np.testing.assert_array_equal(cache.lengths, prefix_len)  # the call itself never commits
  hidden, _ = model(chunk(full), cache=cache)
  got = np.asarray(model.logits(hidden))
  for r in range(2):
    np.testing.assert_allclose(got[r], want[r, frame[r]], atol=1e-5, rtol=0)


def test_config_errors_name_the_field():
  base = dataclasses.asdict(CFG)
  with pytest.raises(ValueError, match='model.head_dim=48.*multiple of 32'):
    ModelConfig(**{**base, 'head_dim': 48})
  ModelConfig(**{**base, 'head_dim': 48, 'rope_variant': '1d'})  # fine without 3-D RoPE
  with pytest.raises(ValueError, match='model.num_kv_heads=3.*divide num_heads'):
    ModelConfig(**{**base, 'num_kv_heads': 3})
  with pytest.raises(ValueError, match='model.q_norm_groups=3'):
    ModelConfig(**{**base, 'q_norm_groups': 3})
  with pytest.raises(ValueError, match='model.rope_variant'):
    ModelConfig(**{**base, 'rope_variant': '2d'})
  with pytest.raises(ValueError, match='model.remat_policy'):
    ModelConfig(**{**base, 'remat_policy': 'some'})
  with pytest.raises(ValueError, match=r"unknown model config keys \['heads'\]"):
    ModelConfig.from_dict({**base, 'heads': 4})


def test_params_are_stacked_and_annotated(model):
  state = nnx.state(model, nnx.Param)
  q = state['layers']['attention']['q_kernel']
  assert q.shape == (2, 64, 4, 32)
  assert q.get_metadata()['out_sharding'] == ('layers', 'embed', 'heads', 'head_dim')
  assert state['lm_head'].shape == (64, V.size)  # untied from the [V, E] embedding
  assert state['embedding'].get_metadata()['out_sharding'] == ('vocab', 'embed')


def _loss_and_grad(config, inputs):
  model = create_model(config, seed=3)
  graphdef, params = nnx.split(model)

  def loss(params):
    m = nnx.merge(graphdef, params)
    hidden, _ = m(inputs)
    return jnp.mean(m.logits(hidden) ** 2)

  return jax.jit(jax.value_and_grad(loss))(params)


def test_remat_policies_give_the_same_loss_and_grads():
  inputs = prepare_inputs(_item()[None], V, CFG)
  ref_loss, ref_grad = _loss_and_grad(CFG, inputs)
  for policy in ('full', 'dots', 'dots_no_batch'):
    loss, grad = _loss_and_grad(dataclasses.replace(CFG, remat_policy=policy), inputs)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), grad, ref_grad
    )


def test_unrolled_layers_give_the_same_loss_and_grads_and_cache():
  """scan_unroll only changes how the layer loop is compiled: 2 layers unrolled (also with remat,
  and a larger unroll than layers) give the scanned stack's loss, gradients and KV cache."""
  tokens = _item()[None]
  inputs = prepare_inputs(tokens, V, CFG)
  ref_loss, ref_grad = _loss_and_grad(CFG, inputs)
  for unroll, policy in ((2, 'none'), (2, 'full'), (8, 'none')):
    config = dataclasses.replace(CFG, scan_unroll=unroll, remat_policy=policy)
    loss, grad = _loss_and_grad(config, inputs)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), grad, ref_grad
    )
  caches = []
  for config in (CFG, dataclasses.replace(CFG, scan_unroll=2)):
    cache = init_cache(config, batch=1, size=tokens.shape[1])
    caches.append(create_model(config, seed=3)(prepare_inputs(tokens, V, config), cache=cache)[1])
  np.testing.assert_allclose(caches[1].k, caches[0].k, rtol=0, atol=1e-5)
  np.testing.assert_allclose(caches[1].v, caches[0].v, rtol=0, atol=1e-5)
  with pytest.raises(ValueError, match='model.scan_unroll'):
    dataclasses.replace(CFG, scan_unroll=0)


def test_bf16_compute_with_fp32_params_is_close():
  tokens = _item()[None]
  fp32 = np.asarray(logits(create_model(CFG, seed=4), tokens, V))
  bf16_model = create_model(dataclasses.replace(CFG, dtype='bfloat16'), seed=4)
  assert nnx.state(bf16_model, nnx.Param)['lm_head'].get_value().dtype == jnp.float32
  out = logits(bf16_model, tokens, V)
  assert out.dtype == jnp.float32
  np.testing.assert_allclose(out, fp32, atol=0.05 * np.abs(fp32).max())
