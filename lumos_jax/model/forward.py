# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Entry points: model inputs from token ids, full-sequence logits, and KV-cache prefill/extend.

`logits(model, tokens, vocab)` is the simple way to score sequences. The sampler uses
`prefill` (the prompt) and `extend` (one frame chunk at a time) with RoPE tables and spans sliced
from the metadata of the full sequence, never recomputed on the chunk (spec 3.7).
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lumos_jax import layout
from lumos_jax.model.cache import KVCache
from lumos_jax.model.config import ModelConfig
from lumos_jax.model.decoder import Decoder
from lumos_jax.model.rope import rope_cos_sin
from lumos_jax.vocab import Vocab


@flax.struct.dataclass
class Inputs:
  """Everything the decoder needs besides parameters, all [B, L] (cos/sin [B, L, head_dim])."""

  tokens: jax.Array
  cos: jax.Array
  sin: jax.Array
  spans: jax.Array
  segment_ids: jax.Array

  def __getitem__(self, index) -> 'Inputs':
    """Slices every field, e.g. `inputs[:, start:stop]` for a chunk."""
    return jax.tree.map(lambda x: x[index], self)


def prepare_inputs(tokens, vocab: Vocab, config: ModelConfig) -> Inputs:
  """Positions, RoPE tables, spans and padding segments for right-padded tokens [B, L].

  Works on numpy arrays and, inside jit, on traced jax arrays. The attention pattern follows
  `config.attention_mask` ('frame_causal': bidirectional inside frames; 'causal': plain causal).
  """
  positions = layout.mm_rope_positions(tokens, vocab)
  frame_causal = config.attention_mask == 'frame_causal'
  cos, sin = rope_cos_sin(positions, config.head_dim, config.rope_theta, config.rope_variant)
  return Inputs(
      tokens=jnp.asarray(tokens, jnp.int32),
      cos=cos,
      sin=sin,
      spans=jnp.asarray(layout.attention_spans(tokens, vocab, frame_causal)),
      segment_ids=jnp.asarray(layout.segment_ids(tokens, vocab)),
  )


@functools.partial(jax.jit, static_argnums=0)
def _logits(graphdef, state, inputs: Inputs) -> jax.Array:
  model = nnx.merge(graphdef, state)
  hidden, _ = model(inputs.tokens, inputs.cos, inputs.sin, inputs.spans, inputs.segment_ids)
  return model.logits(hidden)


def logits(model: Decoder, tokens, vocab: Vocab) -> jax.Array:
  """float32 logits [B, L, vocab] for int tokens [B, L] right-padded with `vocab.pad`."""
  tokens = np.asarray(tokens, np.int32)
  if tokens.ndim != 2:
    raise ValueError(f'tokens must be [B, L], got shape {tokens.shape}')
  if tokens.size and (tokens.min() < 0 or tokens.max() >= model.config.vocab_size):
    raise ValueError(
        f'token ids must lie in [0, {model.config.vocab_size}), got [{tokens.min()}, {tokens.max()}]'
    )
  graphdef, state = nnx.split(model)
  return _logits(graphdef, state, prepare_inputs(tokens, vocab, model.config))


@functools.partial(jax.jit, static_argnums=0)
def _prefill(graphdef, state, cache: KVCache, inputs: Inputs, lengths: jax.Array):
  model = nnx.merge(graphdef, state)
  cache = cache.with_lengths(0)
  hidden, cache = model(inputs.tokens, inputs.cos, inputs.sin, inputs.spans, cache=cache)
  return hidden, cache.with_lengths(lengths)


def prefill(model: Decoder, cache: KVCache, inputs: Inputs, lengths=None):
  """Runs a (right-padded) prefix from slot 0 and commits `lengths` positions per row.

  Args:
    model: the decoder.
    cache: a cache from `init_cache` (its content is overwritten).
    inputs: the prefix, [B, Lp], with spans/RoPE from the full sequence.
    lengths: int [B] real prefix length per row (default: Lp for every row).

  Returns:
    (hidden [B, Lp, E], cache with the prefix committed).
  """
  width = inputs.tokens.shape[1]
  if width > cache.size:
    raise ValueError(f'prefix of {width} tokens does not fit a cache of {cache.size}')
  lengths = jnp.full(inputs.tokens.shape[:1], width, jnp.int32) if lengths is None else lengths
  graphdef, state = nnx.split(model)
  return _prefill(graphdef, state, cache, inputs, jnp.asarray(lengths, jnp.int32))


@functools.partial(jax.jit, static_argnums=(0, 4))
def _extend(graphdef, state, cache: KVCache, inputs: Inputs, commit: bool):
  model = nnx.merge(graphdef, state)
  hidden, new_cache = model(inputs.tokens, inputs.cos, inputs.sin, inputs.spans, cache=cache)
  if commit:
    new_cache = new_cache.advance(inputs.tokens.shape[1])
  return hidden, new_cache


def extend(model: Decoder, cache: KVCache, inputs: Inputs, *, commit: bool = False):
  """Runs a chunk at each row's cache length, attending to the cache plus itself by spans.

  With `commit=False` (a MaskGIT step) the chunk's K/V are written but the lengths stay, so the
  next call overwrites them; with `commit=True` (a finished frame) the lengths advance.
  Returns (hidden [B, Lc, E], cache).
  """
  lengths = np.asarray(jax.device_get(cache.lengths))
  if lengths.max(initial=0) + inputs.tokens.shape[1] > cache.size:
    raise ValueError(
        f'chunk of {inputs.tokens.shape[1]} tokens after {lengths.max()} cached ones does not fit '
        f'a cache of {cache.size}'
    )
  graphdef, state = nnx.split(model)
  return _extend(graphdef, state, cache, inputs, commit)
