# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The AR-DF train and eval steps: mask, forward, masked visual loss (and, to train, AdamW).

A batch is two int32 [B, L] arrays, `tokens` and `labels` (IGNORE where no target), right-padded
with the pad id. Everything else is derived inside the jitted step: the AR-DF mask from a key
(train: fold_in(state.rng, state.step), so a resumed run replays the same masks; eval: a fixed
key, so held-out losses compare across steps), then positions, RoPE tables, spans and padding
segments from the masked tokens (masking never touches the structural tokens they are read from).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from lumos_jax import ardf, flops, layout, loss as loss_lib, parallel
from lumos_jax.model import ModelConfig, create_model, prepare_inputs
from lumos_jax.train.config import ARDFConfig, LossConfig
from lumos_jax.train.optimizer import learning_rate_schedule, make_optimizer
from lumos_jax.train.state import TrainState
from lumos_jax.vocab import Vocab

if TYPE_CHECKING:
  from lumos_jax.config import Config

Batch = dict[str, jax.Array]
_EVAL_SALT = 0x5EED  # eval masks: fold_in(rng, salt), the same at every evaluation


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

  @classmethod
  def create(cls, config: Config) -> StepSettings:
    """The step of a parsed config: its model, vocabulary, optimizer, masking and loss."""
    graphdef, _ = nnx.split(
        nnx.eval_shape(lambda: create_model(config.model, config.seed)), nnx.Param
    )
    return cls(
        graphdef,
        config.model,
        make_optimizer(config.optim),
        learning_rate_schedule(config.optim),
        config.vocab,
        config.ardf,
        config.loss,
    )


def _loss(settings: StepSettings, params, batch: Batch, key: jax.Array):
  """(loss, (LossOutput, mask, decoder inputs)) of one batch under the AR-DF mask of `key`."""
  s = settings
  labels = batch['labels']
  mask = ardf.training_mask(
      key,
      labels,
      s.vocab,
      mask_type=s.ardf.mask_type,
      schedule_name=s.ardf.schedule,
      min_masking_rate=s.ardf.min_masking_rate,
  )
  inputs, targets = ardf.apply_mask(batch['tokens'], labels, mask, s.vocab)
  x = prepare_inputs(inputs, s.vocab, s.model)
  model = nnx.merge(s.graphdef, params)
  hidden, _ = model(x)
  out = loss_lib.masked_visual_cross_entropy(
      hidden,
      model.lm_head[...],
      targets,
      layout.frame_index(inputs, s.vocab),
      s.vocab,
      max_frames=s.loss.max_frames,
      chunk_size=s.loss.chunk_size,
      z_loss_weight=s.loss.z_loss_weight,
  )
  return out.loss, (out, mask, x)


def train_step(settings: StepSettings, state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
  """One optimizer update; an update whose loss or gradient norm is not finite is skipped.

  A skipped update keeps the params and optimizer state; the step counter still advances, so the
  next batch gets its own mask key. Returns the new state and scalar/vector metrics.
  """
  s = settings
  key = jax.random.fold_in(state.rng, state.step)
  grads, (out, mask, x) = jax.grad(functools.partial(_loss, s), has_aux=True)(
      state.params, batch, key
  )
  updates, opt_state = s.tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  grad_norm = optax.tree.norm(grads)
  finite = jnp.isfinite(out.loss) & jnp.isfinite(grad_norm)
  params, opt_state = jax.tree.map(
      lambda new, old: jnp.where(finite, new, old),
      (params, opt_state),
      (state.params, state.opt_state),
  )
  maskable = ardf.maskable_positions(batch['labels'], s.vocab)
  metrics = {
      'loss': out.loss,
      'cross_entropy': out.cross_entropy,
      'frame_losses': out.frame_losses,
      'frame_counts': out.frame_counts,
      'num_targets': out.num_targets,
      'grad_norm': grad_norm,
      'lr': s.schedule(state.step),
      'mask_ratio': mask.sum() / jnp.maximum(maskable.sum(), 1),
      'tokens': x.segment_ids.sum(),
      'attended_pairs': flops.attended_pairs(x.spans, x.segment_ids),  # for MFU
      'skipped': jnp.logical_not(finite).astype(jnp.int32),
  }
  new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
  return new_state, metrics


def eval_step(settings: StepSettings, state: TrainState, batch: Batch) -> dict:
  """Held-out loss under a fixed mask key: the forward pass and loss only, no gradients."""
  key = jax.random.fold_in(state.rng, _EVAL_SALT)
  _, (out, _, _) = _loss(settings, state.params, batch, key)
  return {
      'loss': out.loss,
      'frame_losses': out.frame_losses,
      'frame_counts': out.frame_counts,
      'num_targets': out.num_targets,
  }


def _jitted(fn: Callable, mesh: jax.sharding.Mesh | None, state_shardings: Any, *, train: bool):
  """`fn(state, batch)` under jit: the one place that decides shardings and donation.

  Train steps donate the state (updated in place) and return it with its shardings; eval steps
  read it. The batch is sharded along ('data', 'fsdp'); metrics are replicated.
  """
  donate = (0,) if train else ()  # the state: argument 0
  if mesh is None:
    return jax.jit(fn, donate_argnums=donate)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return jax.jit(
      fn,
      in_shardings=(state_shardings, parallel.batch_sharding(mesh)),
      out_shardings=(state_shardings, replicated) if train else replicated,
      donate_argnums=donate,
  )


def _jit(
    fn: Callable, mesh: jax.sharding.Mesh | None, state_shardings: Any, *, train: bool
) -> Callable:
  """`_jitted(...)`, called inside the mesh context (activation constraints need it)."""
  jitted = _jitted(fn, mesh, state_shardings, train=train)
  if mesh is None:
    return jitted

  def run(state, batch):
    with jax.set_mesh(mesh):
      return jitted(state, batch)

  return run


def lower_train_step(
    settings: StepSettings, mesh: jax.sharding.Mesh, state_shardings: Any, state: Any, batch: Any
) -> jax.stages.Lowered:
  """The train step as `compile_train_step` jits it, lowered for `state` and `batch`, which may be
  abstract (jax.ShapeDtypeStruct): ahead-of-time memory and cost analysis (lumos_jax.plan)."""
  jitted = _jitted(functools.partial(train_step, settings), mesh, state_shardings, train=True)
  with jax.set_mesh(mesh):
    return jitted.lower(state, batch)


def compile_train_step(
    settings: StepSettings, mesh: jax.sharding.Mesh | None = None, state_shardings: Any = None
) -> Callable:
  """`train_step` under jit with the state donated; sharded over `mesh` when given (the state
  keeps `state_shardings`, from `create_train_state`)."""
  return _jit(functools.partial(train_step, settings), mesh, state_shardings, train=True)


def compile_eval_step(
    settings: StepSettings, mesh: jax.sharding.Mesh | None = None, state_shardings: Any = None
) -> Callable:
  """`eval_step` under jit, sharded like `compile_train_step`; nothing is donated."""
  return _jit(functools.partial(eval_step, settings), mesh, state_shardings, train=False)
