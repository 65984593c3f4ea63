# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Train state: step, parameters, optimizer state and the base RNG key, as one pytree."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from lumos_jax import checkpoint, parallel
from lumos_jax.model import Decoder, ModelConfig, create_model, create_sharded_model


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar: number of updates applied
  params: nnx.State  # nnx.Param variables of the decoder (master copy, param_dtype)
  opt_state: Any
  rng: jax.Array  # uint32[2] base key; step keys are fold_in(rng, step)


def create_train_state(
    config: ModelConfig,
    tx: optax.GradientTransformation,
    *,
    seed: int = 0,
    mesh: jax.sharding.Mesh | None = None,
) -> tuple[nnx.GraphDef, TrainState, Any]:
  """Initialises the model and optimizer, sharded over `mesh` when given.

  Returns:
    (graphdef, state, shardings): the model's static graph, the train state and its shardings
    (None without a mesh).
  """
  if mesh is None:
    graphdef, params = nnx.split(create_model(config, seed), nnx.Param)
    state = TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.PRNGKey(seed))
    return graphdef, state, None
  model: Decoder = create_sharded_model(config, mesh, seed)
  graphdef, params = nnx.split(model, nnx.Param)
  param_shardings = parallel.state_shardings(params, mesh)
  opt_shardings = parallel.state_shardings(jax.eval_shape(tx.init, params), mesh)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  shardings = TrainState(replicated, param_shardings, opt_shardings, replicated)
  with jax.set_mesh(mesh):
    opt_state = jax.jit(tx.init, out_shardings=opt_shardings)(params)
    step = jax.device_put(jnp.zeros((), jnp.int32), replicated)
    rng = jax.device_put(jax.random.PRNGKey(seed), replicated)
  return graphdef, TrainState(step, params, opt_state, rng), shardings


def abstract_train_state(
    config: ModelConfig, tx: optax.GradientTransformation, seed: int, mesh: jax.sharding.Mesh
) -> tuple[TrainState, TrainState]:
  """(abstract state, shardings) as `create_train_state(..., mesh=mesh)` builds them.

  Nothing is allocated: a restore reads a checkpoint straight into these shardings.
  """
  _, params = nnx.split(nnx.eval_shape(lambda: create_model(config, seed)), nnx.Param)
  opt_state = jax.eval_shape(tx.init, params)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  shardings = TrainState(
      replicated,
      parallel.state_shardings(params, mesh),
      parallel.state_shardings(opt_state, mesh),
      replicated,
  )
  abstract = TrainState(
      jax.ShapeDtypeStruct((), jnp.int32),
      params,
      opt_state,
      jax.eval_shape(lambda: jax.random.PRNGKey(seed)),
  )
  return checkpoint.abstract_like(abstract, shardings), shardings
