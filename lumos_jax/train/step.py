# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The AR-DF train step: mask, forward, masked visual loss, AdamW update.

A batch is two int32 [B, L] arrays, `tokens` and `labels` (IGNORE where no target), right-padded
with the pad id. Everything else is derived inside the jitted step: the AR-DF mask from
fold_in(state.rng, state.step) (a resumed run replays the same masks), then positions, RoPE
tables, spans and padding segments from the masked tokens (masking never touches the structural
tokens they are read from).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from lumos_jax import ardf, loss as loss_lib, parallel
from lumos_jax.model import ModelConfig, prepare_inputs
from lumos_jax.train.config import ARDFConfig, LossConfig
from lumos_jax.train.state import TrainState
from lumos_jax.vocab import Vocab

Batch = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class StepSettings:
  """Static parts of the step, closed over by the jitted function."""

  graphdef: nnx.GraphDef
  model: ModelConfig
  tx: optax.GradientTransformation
  schedule: optax.Schedule
  vocab: Vocab
  ardf: ARDFConfig
  loss: LossConfig


def train_step(settings: StepSettings, state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
  """One optimizer update. Returns the new state and scalar/vector metrics."""
  s = settings
  vocab = s.vocab
  tokens, labels = batch['tokens'], batch['labels']
  key = jax.random.fold_in(state.rng, state.step)
  mask = ardf.training_mask(
      key, labels, vocab, mask_type=s.ardf.mask_type, schedule_name=s.ardf.schedule,
      min_masking_rate=s.ardf.min_masking_rate,
  )
  inputs, targets = ardf.apply_mask(tokens, labels, mask, vocab)
  x = prepare_inputs(inputs, vocab, s.model)
  frame_ids = loss_lib.frame_indices(inputs, vocab)

  def loss_fn(params):
    model = nnx.merge(s.graphdef, params)
    hidden, _ = model(x.tokens, x.cos, x.sin, x.spans, x.segment_ids)
    out = loss_lib.masked_visual_cross_entropy(
        hidden, model.lm_head[...], targets, frame_ids, vocab,
        max_frames=s.loss.max_frames, chunk_size=s.loss.chunk_size,
        z_loss_weight=s.loss.z_loss_weight,
    )
    return out.loss, out

  grads, out = jax.grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = s.tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  maskable = ardf.maskable_positions(labels, vocab)
  metrics = {
      'loss': out.loss,
      'cross_entropy': out.cross_entropy,
      'frame_losses': out.frame_losses,
      'frame_counts': out.frame_counts,
      'num_targets': out.num_targets,
      'grad_norm': optax.tree.norm(grads),
      'lr': s.schedule(state.step),
      'mask_ratio': mask.sum() / jnp.maximum(maskable.sum(), 1),
      'tokens': x.segment_ids.sum(),
  }
  new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
  return new_state, metrics


def compile_train_step(
    settings: StepSettings, mesh: jax.sharding.Mesh | None = None, state_shardings: Any = None
):
  """`train_step` under jit with the state donated; sharded over `mesh` when given.

  The batch is sharded along ('data', 'fsdp'); the state keeps `state_shardings` (from
  `create_train_state`); metrics are replicated.
  """
  step = functools.partial(train_step, settings)
  if mesh is None:
    return jax.jit(step, donate_argnums=0)
  batch_sharding = parallel.batch_sharding(mesh)
  jitted = jax.jit(
      step,
      in_shardings=(state_shardings, batch_sharding),
      out_shardings=(state_shardings, None),
      donate_argnums=0,
  )

  def run(state, batch):
    with jax.set_mesh(mesh):
      return jitted(state, batch)

  return run
