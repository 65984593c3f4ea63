# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The training driver behind `python -m lumos_jax train`: `run(config, workdir)`.

`run` sets up (parse the config, prepare data on first use, copy the run's assets into WORKDIR,
build the mesh, restore or initialise the state, compile the steps) and hands over to `train`:
step, then hooks (lumos_jax/train/hooks.py: held-out loss, non-finite guard, logging,
checkpoints, profiler, preemption), until `train.num_steps` or a hook stops the run. Every process
of a multi-process run executes the same code; each reads its own share of the global batch and
process 0 writes the logs.

Resume order (decided in `_restore_or_init` and nowhere else):
  1. the newest checkpoint in WORKDIR/checkpoints that restores: params, optimizer state, step,
     RNG key and data iterator position (a newer one that fails to restore is logged and skipped;
     unfinished saves were never committed and are ignored);
  2. otherwise, with `train.init_from=RUN` (fine-tuning), the parameters of RUN's latest
     checkpoint (a converted release or any earlier run; lumos_jax/train/init_from.py) with a
     fresh optimizer at step 0; once this run has saved a checkpoint, 1 wins and RUN is not read;
  3. otherwise a fresh initialisation from `config.seed`.
Because the AR-DF masks come from fold_in(rng, step) and the data iterator resumes where it
stopped, a resumed run produces the same losses and parameters as an uninterrupted one.

Stops:
  * `train.num_steps` reached: a final checkpoint is written;
  * SIGTERM (preemption): a checkpoint of the current step is written, `run` returns normally;
  * `train.max_nonfinite_in_a_row` updates in a row with a non-finite loss or gradient: those
    updates are skipped (params and optimizer state kept, the step counter still advances), then a
    checkpoint is written and `NonFiniteLossError` raised.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Callable, Iterator, Mapping, Sequence

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding

from lumos_jax import checkpoint as checkpoint_lib
from lumos_jax import config as config_lib
from lumos_jax import flops, parallel, run_dir
from lumos_jax.train import hooks as hooks_lib
from lumos_jax.train import init_from
from lumos_jax.train import metrics as metrics_lib
from lumos_jax.train.state import abstract_train_state, create_train_state
from lumos_jax.train.step import StepSettings, compile_eval_step, compile_train_step

CHECKPOINT_DIR = 'checkpoints'
_BATCH_KEYS = ('tokens', 'labels')


class NonFiniteLossError(RuntimeError):
  """Too many updates in a row had a non-finite loss or gradient norm."""


@dataclasses.dataclass
class RunResult:
  step: int  # the step reached
  stopped: str  # 'done' or 'preempted'
  start_step: int  # the step the run started from (0, or the restored checkpoint's)
  skipped_updates: int  # non-finite updates skipped in this run
  last_record: dict | None  # the last metrics record written


# -----------------------------------------------------------------------------------------------
# The driver: step, then hooks
# -----------------------------------------------------------------------------------------------


def train(
    state: Any,
    step_fn: Callable,
    batches: Iterator[Mapping[str, jax.Array]],
    hooks: Sequence[hooks_lib.Hook],
    *,
    start_step: int,
    num_steps: int,
) -> tuple[Any, int, str]:
  """Steps from `start_step` to `num_steps`, calling every hook after every step.

  Returns (state, step reached, why it stopped: 'done', or the first stop reason a hook gave).
  Every hook's `end` runs before returning, also when a step or hook raises (stopped='error').
  """
  step, stopped = start_step, 'done'
  for hook in hooks:
    hook.begin(start_step)
  try:
    while step < num_steps:
      state, metrics = step_fn(state, next(batches))
      metrics = jax.device_get(metrics)  # one small transfer; the step has to finish anyway
      step += 1
      reasons = [hook.after_step(step, state, metrics) for hook in hooks]
      reason = next((r for r in reasons if r), None)
      if reason:
        stopped = reason
        break
  except BaseException:
    stopped = 'error'  # hooks clean up; nothing is saved from a failed step
    raise
  finally:
    for hook in hooks:
      hook.end(step, state, stopped)
  return state, step, stopped


# -----------------------------------------------------------------------------------------------
# Setup
# -----------------------------------------------------------------------------------------------


class _DefaultData:
  """The package's data pipeline (`lumos_jax.data`), imported on first use."""

  @staticmethod
  def prepare(data, vocab) -> pathlib.Path:
    """Prepared on first use (synthetic) or by `prepare` (user data); every shard of every split
    is checked against dataset_info.json, so a truncated one is named before step 1."""
    from lumos_jax.data import prepare, records  # pylint: disable=g-import-not-at-top

    path = prepare.ensure_prepared(data, vocab)
    records.verify_shards(records.builder_dir(path / 'records'))
    return path

  @staticmethod
  def make_iterator(data, vocab, **kwargs):
    from lumos_jax.data import pipeline  # pylint: disable=g-import-not-at-top

    return pipeline.make_iterator(data, vocab, **kwargs)


def _prepare_data(config: config_lib.Config, data) -> pathlib.Path:
  """Synthetic data is prepared on first use (process 0 first, then the others); user data must
  be prepared (`prepare`). Returns the prepared version directory."""
  if jax.process_index() == 0:
    path = data.prepare(config.data, config.vocab)
    logging.info('data: records in %s', path)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices('lumos_jax.prepare')
    if jax.process_index() != 0:
      path = data.prepare(config.data, config.vocab)  # a no-op on a shared file system
  return pathlib.Path(path)


def _global_batches(local: Iterator[Mapping[str, Any]], sharding: NamedSharding, mesh):
  """Host-local [B_local, L] arrays -> global [B_local * processes, L] arrays on the mesh."""
  first = True
  for batch in local:
    out = {}
    for key in _BATCH_KEYS:
      if key not in batch:
        raise ValueError(f'data iterator batch has keys {sorted(batch)}; expected {_BATCH_KEYS}')
      out[key] = jax.make_array_from_process_local_data(sharding, np.asarray(batch[key], np.int32))
    if first:
      _check_batch(out, mesh)
      first = False
    yield out


def _check_batch(batch: Mapping[str, jax.Array], mesh) -> None:
  shards = mesh.shape['data'] * mesh.shape['fsdp']
  size = batch['tokens'].shape[0]
  if size % shards:
    raise ValueError(
        f'global batch size {size} is not divisible by data x fsdp = {shards} '
        f'(mesh {dict(mesh.shape)}); change data.batch_size or mesh.shape'
    )


def _restore_or_init(
    config: config_lib.Config, settings: StepSettings, mesh, checkpointer, train_iter
):
  """The resume order of the module docstring. Returns (state, shardings, start_step)."""
  abstract, shardings = abstract_train_state(settings.model, settings.tx, config.seed, mesh)
  restored = checkpointer.restore(abstract, train_iter)
  if restored is not None:
    logging.info(
        'resuming from checkpoint %d in %s%s',
        restored.step,
        checkpointer.directory,
        '' if restored.data_restored else ' (data iterator restarted)',
    )
    _log_config_changes(restored.config, config.raw)
    return restored.state, shardings, int(restored.step)
  if config.train.init_from:
    state, source_step = init_from.init_state(
        config.train.init_from,
        settings.model,
        config.vocab,
        settings.tx,
        config.seed,
        abstract,
        shardings,
    )
    logging.info(
        'no checkpoint in %s: parameters from step %d of %s (train.init_from), fresh optimizer, '
        'step 0',
        checkpointer.directory,
        source_step,
        config.train.init_from,
    )
    return state, shardings, 0
  logging.info(
      'no checkpoint in %s: initialising from seed %d', checkpointer.directory, config.seed
  )
  _, state, created = create_train_state(settings.model, settings.tx, seed=config.seed, mesh=mesh)
  if jax.tree.structure(created) != jax.tree.structure(shardings):
    raise AssertionError('abstract_train_state and create_train_state disagree on the state tree')
  return state, shardings, 0


def _flatten(d: Mapping, prefix: str = '') -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    if isinstance(v, Mapping):
      out.update(_flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


def _log_config_changes(saved: Mapping | None, now: Mapping) -> None:
  if saved is None:
    return
  now, before = _flatten(json.loads(json.dumps(now))), _flatten(saved)
  for key in sorted(set(now) | set(before)):
    if before.get(key) != now.get(key):
      logging.info(
          'config changed since the checkpoint: %s: %r -> %r', key, before.get(key), now.get(key)
      )


class _HeldOut:
  """The held-out batches: one iterator, rewound to its start before every evaluation."""

  def __init__(self, config: config_lib.Config, data, sharding: NamedSharding):
    self._config, self._data, self._sharding = config, data, sharding
    self._iterator = self._start = None

  def __call__(self) -> Iterator[dict[str, jax.Array]]:
    if self._iterator is None:
      self._iterator = self._data.make_iterator(
          self._config.data,
          self._config.vocab,
          split=self._config.train.eval_split,
          seed=self._config.seed,
          process_index=jax.process_index(),
          process_count=jax.process_count(),
      )
      self._start = self._iterator.get_state()
    else:
      self._iterator.set_state(self._start)
    for _ in range(self._config.train.eval_batches):
      batch = next(self._iterator)
      yield {
          k: jax.make_array_from_process_local_data(self._sharding, np.asarray(batch[k], np.int32))
          for k in _BATCH_KEYS
      }


def run(
    config: Any, workdir: str | pathlib.Path, *, hooks: Sequence[Callable] = (), data: Any = None
) -> RunResult:
  """Trains `config` in `workdir`, resuming from its checkpoints. See the module docstring.

  Args:
    config: a parsed `lumos_jax.config.Config`, or a ConfigDict (configs/*.py) to parse.
    workdir: run directory: checkpoints/, metrics.jsonl, tensorboard/ and the run's assets
      (lumos_jax/run_dir.py).
    hooks: extra functions called after every step as fn(step, metrics (host numpy),
      checkpointer), after the built-in hooks.
    data: an object with `prepare(data, vocab) -> version dir` and
      `make_iterator(data, vocab, **kwargs)`; default: the package's pipeline (`lumos_jax.data`).
  """
  if not isinstance(config, config_lib.Config):
    config = config_lib.parse(config)
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  data = data or _DefaultData()
  tc, cc = config.train, config.checkpoint

  settings = StepSettings.create(config)
  mesh = parallel.make_mesh(config.mesh.shape, context=config.mesh.context)
  logging.info(
      'mesh %s over %d devices in %d process(es)', dict(mesh.shape), mesh.size, jax.process_count()
  )
  batch_sharding = parallel.batch_sharding(mesh)
  version_dir = _prepare_data(config, data)
  if jax.process_index() == 0:
    run_dir.write(workdir, config, version_dir)
  train_iter = data.make_iterator(
      config.data,
      config.vocab,
      split='train',
      seed=config.seed,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
  )
  checkpointer = checkpoint_lib.Checkpointer(
      workdir / CHECKPOINT_DIR, max_to_keep=cc.max_to_keep, async_save=cc.async_save
  )
  state, shardings, start_step = _restore_or_init(config, settings, mesh, checkpointer, train_iter)
  writer = metrics_lib.MetricsWriter(
      workdir,
      num_steps=tc.num_steps,
      start_step=start_step,
      enabled=jax.process_index() == 0,
      progress_bar=tc.progress_bar,
  )
  guard = hooks_lib.NonFiniteGuard(tc.max_nonfinite_in_a_row)
  peak = flops.peak_flops(jax.devices()[0], config.model.dtype)  # per chip; None: unknown (CPU)
  log = hooks_lib.LogMetrics(
      writer,
      tc.log_every,
      tc.num_steps,
      config.loss.max_frames,
      flops.ModelFlops.of(config.model, config.vocab.codebook_size),
      None if peak is None else peak * mesh.size,
  )
  all_hooks: list[hooks_lib.Hook] = []
  if tc.eval_every:
    eval_step = compile_eval_step(settings, mesh, shardings)
    all_hooks.append(
        hooks_lib.HeldOutEval(eval_step, _HeldOut(config, data, batch_sharding), tc.eval_every)
    )
  all_hooks += [
      guard,
      log,
      hooks_lib.Checkpointing(checkpointer, cc.every_steps, tc.num_steps, train_iter, config.raw),
  ]
  if tc.profile_steps:
    all_hooks.append(hooks_lib.Profile(*tc.profile_steps, workdir / 'profile'))
  all_hooks += [hooks_lib.Callback(fn, checkpointer) for fn in hooks]
  all_hooks.append(hooks_lib.Preemption(writer))  # last: sees a signal sent by an earlier hook
  try:
    _, step, stopped = train(
        state,
        compile_train_step(settings, mesh, shardings),
        _global_batches(train_iter, batch_sharding, mesh),
        all_hooks,
        start_step=start_step,
        num_steps=tc.num_steps,
    )
  finally:
    writer.close()
    checkpointer.close()
  if stopped == 'nonfinite':
    raise NonFiniteLossError(guard.message)
  return RunResult(
      step=step,
      stopped=stopped,
      start_step=start_step,
      skipped_updates=guard.total,
      last_record=log.last_record,
  )
