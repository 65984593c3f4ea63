# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Fine-tuning: a new run's parameters read from another run (`train.init_from`).

The source is any run directory: one written by `train`, or one made by `convert` from the
released Lumos-1 weights. Only the parameters of its latest checkpoint are read (the params-only
restore of lumos_jax/checkpoint.py), straight into this run's shardings and parameter dtype; the
optimizer state is fresh, the step is 0 and the RNG key comes from this run's `config.seed`.

The source's vocabulary and the fields of `model` that define the parameters or the function
they compute must equal this run's; compute settings (`COMPUTE_FIELDS`: dtypes, remat, scan
unrolling, attention kernel, init) may differ, e.g. bf16-stored released weights fine-tuned with
float32 master weights.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import jax
import jax.numpy as jnp

from lumos_jax import checkpoint, run_dir
from lumos_jax.errors import UserError
from lumos_jax.model import ModelConfig
from lumos_jax.train.state import TrainState
from lumos_jax.vocab import Vocab

# Model fields that may differ between the source run and the fine-tuning run: they change how
# the same parameters are stored or computed with, not what they are.
COMPUTE_FIELDS = (
    'dtype',
    'param_dtype',
    'remat_policy',
    'scan_unroll',
    'attention_impl',
    'init_std',
)
CHECKPOINTS = 'checkpoints'  # as lumos_jax/train/loop.py and convert write them


def check_compatible(source: str | pathlib.Path, model: ModelConfig, vocab: Vocab) -> None:
  """UserError naming every differing key unless the run in `source` has this model and vocab."""
  source = pathlib.Path(source)
  where = f'train.init_from={source}'
  if not source.is_dir():
    raise UserError(f'{where}: no such directory (expected a run made by `train` or `convert`)')
  try:
    theirs = run_dir.read_config(source)
  except UserError as e:
    raise UserError(f'{where}: {e}') from e
  problems = [
      f'model.{f.name}: {getattr(theirs.model, f.name)!r} there, {getattr(model, f.name)!r} here'
      for f in dataclasses.fields(ModelConfig)
      if f.name not in COMPUTE_FIELDS and getattr(theirs.model, f.name) != getattr(model, f.name)
  ]
  if theirs.vocab != vocab:
    diff = [
        f'{f.name}={getattr(theirs.vocab, f.name)!r} there, {getattr(vocab, f.name)!r} here'
        for f in dataclasses.fields(Vocab)
        if getattr(theirs.vocab, f.name) != getattr(vocab, f.name)
    ]
    problems.append(f'vocab: {"; ".join(diff)}')
  if problems:
    raise UserError(
        f'{where}: the source run has another model: {"; ".join(problems)} (set this config\'s '
        "model and vocab to the source's, e.g. from its config.json)"
    )


def init_state(
    source: str | pathlib.Path,
    model: ModelConfig,
    vocab: Vocab,
    tx: Any,
    seed: int,
    abstract: TrainState,
    shardings: TrainState,
) -> tuple[TrainState, int]:
  """A step-0 train state with the parameters of `source`'s latest checkpoint.

  Args:
    source: the source run directory.
    model, vocab: this run's model config and vocabulary (checked against the source's).
    tx: this run's optimizer; its state is initialised afresh from the restored parameters.
    seed: this run's seed (the RNG key of the AR-DF masks).
    abstract, shardings: `abstract_train_state(...)` of this run: the parameters are read into
      its shapes, dtypes and shardings.

  Returns:
    (state, the source checkpoint's step).
  """
  check_compatible(source, model, vocab)
  directory = pathlib.Path(source) / CHECKPOINTS
  try:
    params, step = checkpoint.restore_params(directory, abstract.params)
  except FileNotFoundError as e:
    raise UserError(f'train.init_from={source}: {e}') from e
  opt_state = jax.jit(tx.init, out_shardings=shardings.opt_state)(params)
  replicated = shardings.step
  state = TrainState(
      jax.device_put(jnp.zeros((), jnp.int32), replicated),
      params,
      opt_state,
      jax.device_put(jax.random.PRNGKey(seed), replicated),
  )
  return state, step
