# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`logits(model, tokens, vocab)`: full-sequence logits from token ids, for scoring and tests.

A convenience over the one forward entry `Decoder.__call__(inputs, cache)`; the sampler and the
train step call that entry directly with their own `Inputs`.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
from flax import nnx

from lumos_jax.model.decoder import Decoder
from lumos_jax.model.inputs import Inputs, prepare_inputs
from lumos_jax.vocab import Vocab


@functools.partial(jax.jit, static_argnums=0)
def _logits(graphdef, state, inputs: Inputs) -> jax.Array:
  model = nnx.merge(graphdef, state)
  hidden, _ = model(inputs)
  return model.logits(hidden)


def logits(model: Decoder, tokens, vocab: Vocab) -> jax.Array:
  """float32 logits [B, L, vocab] for int tokens [B, L] right-padded with `vocab.pad`."""
  tokens = np.asarray(tokens, np.int32)
  if tokens.ndim != 2:
    raise ValueError(f'tokens must be [B, L], got shape {tokens.shape}')
  if tokens.size and (tokens.min() < 0 or tokens.max() >= model.config.vocab_size):
    raise ValueError(
        f'token ids must lie in [0, {model.config.vocab_size}), got '
        f'[{tokens.min()}, {tokens.max()}]'
    )
  graphdef, state = nnx.split(model)
  return _logits(graphdef, state, prepare_inputs(tokens, vocab, model.config))
