# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Model construction: plain, or sharded over a mesh without any host holding the full model."""

from __future__ import annotations

import jax
from flax import nnx

from lumos_jax import parallel
from lumos_jax.model.config import ModelConfig
from lumos_jax.model.decoder import Decoder


def create_model(config: ModelConfig, seed: int = 0) -> Decoder:
  """A freshly initialised decoder on the default device."""
  return Decoder(config, rngs=nnx.Rngs(params=seed))


def create_sharded_model(config: ModelConfig, mesh: jax.sharding.Mesh, seed: int = 0) -> Decoder:
  """A decoder initialised inside jit with its parameters sharded by the logical-axis rules."""
  abstract = nnx.eval_shape(lambda: create_model(config, seed))
  graphdef, abstract_state = nnx.split(abstract)
  shardings = parallel.state_shardings(abstract_state, mesh)

  def init():
    return nnx.state(create_model(config, seed))

  with jax.set_mesh(mesh):
    state = jax.jit(init, out_shardings=shardings)()
  return nnx.merge(graphdef, state)
