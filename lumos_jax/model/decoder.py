# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Chameleon-style decoder (spec section 4) in Flax NNX.

Pre-norm blocks: h = x + Attn(RMSNorm(x)); y = h + MLP(RMSNorm(h)). Attention has per-head q/k
LayerNorm (statistics over head_dim, affine rows shared by blocks of consecutive heads) applied
before RoPE, grouped-query attention and no biases by default; the MLP is SwiGLU; the LM head is
not tied to the embedding. The layer stack is created with `nnx.vmap` (a leading 'layers' axis on
every block parameter) and run with `jax.lax.scan`, optionally rematerialised.

Parameters are stored in `param_dtype` and cast to the compute `dtype` where used; logits are
float32. Every parameter carries logical axis names (see `lumos_jax.parallel`).
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from lumos_jax import parallel
from lumos_jax.model import attention, cache as cache_lib
from lumos_jax.model.config import ModelConfig
from lumos_jax.model.inputs import Inputs
from lumos_jax.model.rope import apply_rope


def _param(rngs: nnx.Rngs | None, shape, axes: Sequence[str], config: ModelConfig, init: str):
  if init == 'normal':
    value = config.init_std * jax.random.normal(rngs.params(), shape, jnp.float32)
  elif init == 'ones':
    value = jnp.ones(shape, jnp.float32)
  else:
    value = jnp.zeros(shape, jnp.float32)
  # Sharding is applied explicitly by the caller (parallel.state_shardings), not eagerly here.
  return nnx.Param(
      value.astype(config.weight_dtype), out_sharding=tuple(axes), eager_sharding=False
  )


class RMSNorm(nnx.Module):
  """w * cast_back(x * rsqrt(mean(x^2) + eps)), statistics in float32."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs | None = None):
    self.eps = config.rms_norm_eps
    self.scale = _param(rngs, (config.embed_dim,), ('norm',), config, 'ones')

  def __call__(self, x: jax.Array) -> jax.Array:
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
    return self.scale[...].astype(x.dtype) * y.astype(x.dtype)


def matmul(x: jax.Array, w: jax.Array, in_dims: int = 1) -> jax.Array:
  """x [..., *w.shape[:in_dims]] contracted with w [*in, *out] -> [..., *out], in x's dtype.

  The leading axes are flattened into one and the weight to a matrix, so XLA sees one 2-D matmul:
  on CPU the batched 3-D form made the weight gradients transpose their [B*L, F] operands through
  slow strided copies (the demo MLP's forward + backward took 2x as long).
  """
  lead, out = x.shape[: x.ndim - in_dims], w.shape[in_dims:]
  size_in = math.prod(w.shape[:in_dims])
  y = x.reshape(-1, size_in) @ w.reshape(size_in, -1).astype(x.dtype)
  return y.reshape(*lead, *out)


def head_layernorm(x: jax.Array, scale: jax.Array, bias: jax.Array, eps: float) -> jax.Array:
  """LayerNorm over head_dim of x [B, L, N, D]; affine rows [G, D] each serve N/G heads."""
  x32 = x.astype(jnp.float32)
  mean = jnp.mean(x32, axis=-1, keepdims=True)
  var = jnp.mean(jnp.square(x32 - mean), axis=-1, keepdims=True)
  y = ((x32 - mean) * jax.lax.rsqrt(var + eps)).astype(x.dtype)
  reps = x.shape[-2] // scale.shape[0]
  scale = jnp.repeat(scale, reps, axis=0).astype(x.dtype)
  bias = jnp.repeat(bias, reps, axis=0).astype(x.dtype)
  return y * scale + bias


class Attention(nnx.Module):
  """Grouped-query attention with per-head q/k LayerNorm and rotary embeddings."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    c = config
    self.config = c
    e, n, k, d = c.embed_dim, c.num_heads, c.num_kv_heads, c.head_dim
    self.q_kernel = _param(rngs, (e, n, d), ('embed', 'heads', 'head_dim'), c, 'normal')
    self.k_kernel = _param(rngs, (e, k, d), ('embed', 'kv_heads', 'head_dim'), c, 'normal')
    self.v_kernel = _param(rngs, (e, k, d), ('embed', 'kv_heads', 'head_dim'), c, 'normal')
    self.o_kernel = _param(rngs, (n, d, e), ('heads', 'head_dim', 'embed'), c, 'normal')
    if c.attention_bias:
      self.q_bias = _param(rngs, (n, d), ('heads', 'head_dim'), c, 'zeros')
      self.k_bias = _param(rngs, (k, d), ('kv_heads', 'head_dim'), c, 'zeros')
      self.v_bias = _param(rngs, (k, d), ('kv_heads', 'head_dim'), c, 'zeros')
      self.o_bias = _param(rngs, (e,), ('norm',), c, 'zeros')
    self.q_norm_scale = _param(rngs, (c.q_norm_groups, d), ('qk_norm', 'head_dim'), c, 'ones')
    self.q_norm_bias = _param(rngs, (c.q_norm_groups, d), ('qk_norm', 'head_dim'), c, 'zeros')
    self.k_norm_scale = _param(rngs, (c.k_norm_groups, d), ('qk_norm', 'head_dim'), c, 'ones')
    self.k_norm_bias = _param(rngs, (c.k_norm_groups, d), ('qk_norm', 'head_dim'), c, 'zeros')

  def _project(self, x, name: str, heads_axis: str):
    y = matmul(x, getattr(self, f'{name}_kernel')[...])
    if self.config.attention_bias:
      y = y + getattr(self, f'{name}_bias')[...].astype(x.dtype)
    return parallel.constrain(y, ('act_batch', 'act_length', heads_axis, 'head_dim'))

  def __call__(self, x, cos, sin, spans, segment_ids=None, kv=None, offsets=None):
    """Attention over x [B, L, E].

    Without `kv`, keys are x itself (masked by spans and segment_ids). With `kv` = (k_buf, v_buf)
    of one layer's cache ([B, C, K, D]) the chunk's keys/values are written at per-row `offsets`
    and the queries attend to the whole buffer by their absolute spans. Returns (out, kv).
    """
    c = self.config
    q = self._project(x, 'q', 'act_heads')
    k = self._project(x, 'k', 'act_kv_heads')
    v = self._project(x, 'v', 'act_kv_heads')
    q = head_layernorm(q, self.q_norm_scale[...], self.q_norm_bias[...], c.qk_norm_eps)
    k = head_layernorm(k, self.k_norm_scale[...], self.k_norm_bias[...], c.qk_norm_eps)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    kv_segment_ids = segment_ids
    if kv is not None:
      k_buf, v_buf = cache_lib.write(kv[0], k, offsets), cache_lib.write(kv[1], v, offsets)
      kv = (k_buf, v_buf)
      k, v = k_buf.astype(q.dtype), v_buf.astype(q.dtype)
      segment_ids = kv_segment_ids = None
    out = attention.attend(q, k, v, spans, segment_ids, kv_segment_ids, impl=c.attention_impl)
    out = parallel.constrain(out, ('act_batch', 'act_length', 'act_heads', 'head_dim'))
    y = matmul(out, self.o_kernel[...], in_dims=2)
    if c.attention_bias:
      y = y + self.o_bias[...].astype(y.dtype)
    return y, kv


class MLP(nnx.Module):
  """SwiGLU: down(silu(gate(x)) * up(x))."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    c = config
    self.config = c
    self.gate_kernel = _param(rngs, (c.embed_dim, c.mlp_dim), ('embed', 'mlp'), c, 'normal')
    self.up_kernel = _param(rngs, (c.embed_dim, c.mlp_dim), ('embed', 'mlp'), c, 'normal')
    self.down_kernel = _param(rngs, (c.mlp_dim, c.embed_dim), ('mlp', 'embed'), c, 'normal')
    if c.mlp_bias:
      self.gate_bias = _param(rngs, (c.mlp_dim,), ('mlp',), c, 'zeros')
      self.up_bias = _param(rngs, (c.mlp_dim,), ('mlp',), c, 'zeros')
      self.down_bias = _param(rngs, (c.embed_dim,), ('norm',), c, 'zeros')

  def _dense(self, x, name):
    y = matmul(x, getattr(self, f'{name}_kernel')[...])
    if self.config.mlp_bias:
      y = y + getattr(self, f'{name}_bias')[...].astype(x.dtype)
    return y

  def __call__(self, x):
    h = jax.nn.silu(self._dense(x, 'gate')) * self._dense(x, 'up')
    h = parallel.constrain(h, ('act_batch', 'act_length', 'act_mlp'))
    return self._dense(h, 'down')


class Block(nnx.Module):
  """One pre-norm decoder layer."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    self.input_norm = RMSNorm(config, rngs=rngs)
    self.attention = Attention(config, rngs=rngs)
    self.post_attention_norm = RMSNorm(config, rngs=rngs)
    self.mlp = MLP(config, rngs=rngs)

  def __call__(self, x, cos, sin, spans, segment_ids=None, kv=None, offsets=None):
    h, kv = self.attention(self.input_norm(x), cos, sin, spans, segment_ids, kv, offsets)
    x = x + h
    x = x + self.mlp(self.post_attention_norm(x))
    return parallel.constrain(x, ('act_batch', 'act_length', 'act_embed')), kv


class Decoder(nnx.Module):
  """Token embedding, scanned decoder blocks, final RMSNorm and untied LM head."""

  def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
    c = config
    self.config = c
    self.embedding = _param(rngs, (c.vocab_size, c.embed_dim), ('vocab', 'embed'), c, 'normal')

    @nnx.split_rngs(splits=c.num_layers)
    @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: 'layers'})
    def make_blocks(rngs):
      return Block(c, rngs=rngs)

    self.layers = make_blocks(rngs)
    self.final_norm = RMSNorm(c, rngs=rngs)
    self.lm_head = _param(rngs, (c.embed_dim, c.vocab_size), ('embed', 'vocab'), c, 'normal')

  def __call__(
      self, inputs: Inputs, cache: cache_lib.KVCache | None = None
  ) -> tuple[jax.Array, cache_lib.KVCache | None]:
    """Final hidden states [B, L, E] (compute dtype) and the updated cache.

    The one forward entry: training, evaluation and sampling all call it.

    Args:
      inputs: tokens and metadata [B, L] (see `prepare_inputs`); tokens only see keys of their
        segment when `inputs.segment_ids` is given and there is no cache.
      cache: if given, the tokens are a chunk at per-row positions `cache.lengths`; their K/V are
        written there and they attend to the cache buffer (lengths are not advanced: the caller
        commits a finished chunk with `cache.advance`).
    """
    c = self.config
    tokens, cos, sin, spans = inputs.tokens, inputs.cos, inputs.sin, inputs.spans
    segment_ids = inputs.segment_ids
    # All-gather the table (in the compute dtype) before the lookup, as FSDP does for every
    # weight: a gather from a table sharded along vocab or embed makes XLA fall back to
    # replicating and re-partitioning the result ("involuntary full rematerialization").
    table = parallel.constrain(self.embedding[...].astype(c.compute_dtype), (None, None))
    x = jnp.take(table, tokens, axis=0)
    x = parallel.constrain(x, ('act_batch', 'act_length', 'act_embed'))
    graphdef, layer_state = nnx.split(self.layers)
    offsets = None if cache is None else cache.lengths

    def body(x, xs):
      state, kv = xs
      x, kv = nnx.merge(graphdef, state)(x, cos, sin, spans, segment_ids, kv, offsets)
      return x, kv

    if c.remat is not None:
      body = jax.checkpoint(body, policy=c.remat, prevent_cse=False)
    kv = None if cache is None else (cache.k, cache.v)
    x, kv = jax.lax.scan(body, x, (layer_state, kv), unroll=min(c.scan_unroll, c.num_layers))
    if cache is not None:
      cache = cache.replace(k=kv[0], v=kv[1])
    return self.final_norm(x), cache

  def logits(self, hidden: jax.Array, start: int = 0, stop: int | None = None) -> jax.Array:
    """float32 logits [..., stop - start] of the vocabulary ids [start, stop) (default: all).

    The sampler asks for the visual ids only: at 384p a frame's full-vocabulary logits are
    [2 rows, 4032, 129536] float32, 4 GiB, of which it needs half.
    """
    out = jnp.einsum(
        '...d,dv->...v',
        hidden,
        self.lm_head[:, start:stop].astype(hidden.dtype),
        preferred_element_type=jnp.float32,
    )
    if out.ndim == 3:
      out = parallel.constrain(out, ('act_batch', 'act_length', 'act_vocab'))
    return out
