# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""What the decoder reads besides its parameters: tokens and their per-token metadata.

Metadata is always computed on the full sequence (`prepare_inputs`) and sliced for a chunk
(`inputs[:, start:stop]`), never recomputed on the chunk: a frame's RoPE positions and spans depend
on where it sits in the whole sequence (spec 3.7).
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from lumos_jax import layout
from lumos_jax.model.config import ModelConfig
from lumos_jax.model.rope import rope_cos_sin
from lumos_jax.vocab import Vocab


@flax.struct.dataclass
class Inputs:
  """Decoder inputs, all [B, L] (cos/sin [B, L, head_dim]).

  Attributes:
    tokens: int token ids.
    cos, sin: RoPE tables of these tokens (see `rope.rope_cos_sin`).
    spans: absolute index of the last key each token may see.
    segment_ids: 1 for real tokens, 0 for padding; None when every key is real. A chunk run
      against a KV cache ignores them (its keys are the cache buffer, limited by spans alone).
  """

  tokens: jax.Array
  cos: jax.Array
  sin: jax.Array
  spans: jax.Array
  segment_ids: jax.Array | None = None

  def __getitem__(self, index) -> Inputs:
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
