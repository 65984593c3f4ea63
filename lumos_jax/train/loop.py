# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The training driver behind `python -m lumos_jax train`: `run(config, workdir)`.

One call: prepare data (synthetic source: generated on first use), build the mesh, restore or
initialise the train state, then step until `train.num_steps`, logging metrics, evaluating the
held-out loss, and checkpointing. Every process of a multi-process run executes the same code; each
reads its own share of the global batch and process 0 writes the logs.

Resume order (decided in `_restore_or_init` and nowhere else):
  1. the newest checkpoint in WORKDIR/checkpoints that restores: params, optimizer state, step,
     RNG key and data iterator position (a newer one that fails to restore is logged and skipped;
     unfinished saves were never committed and are ignored);
  2. otherwise a fresh initialisation from `config.seed`.
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
import functools
import json
import pathlib
import signal
import threading
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

from lumos_jax import checkpoint as checkpoint_lib
from lumos_jax import parallel
from lumos_jax import vocab as vocab_lib
from lumos_jax.model import config as model_config_lib
from lumos_jax.model import create_model
from lumos_jax.train import metrics as metrics_lib
from lumos_jax.train.config import ARDFConfig, LossConfig, OptimConfig
from lumos_jax.train.optimizer import learning_rate_schedule, make_optimizer
from lumos_jax.train.state import TrainState, create_train_state
from lumos_jax.train.step import StepSettings, train_step

CHECKPOINT_DIR = 'checkpoints'
CONFIG_FILE = 'config.json'
_BATCH_KEYS = ('tokens', 'labels')
_EVAL_SALT = 0x5EED  # eval masks: a fixed key, so held-out losses compare across steps

Hook = Callable[[int, Mapping[str, Any], checkpoint_lib.Checkpointer], None]


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
# Setup
# -----------------------------------------------------------------------------------------------


def _section(config, name: str):
  if name not in config:
    raise ValueError(f'config has no `{name}` section (see configs/tiny.py for the keys)')
  return config[name]


def build_settings(config) -> tuple[StepSettings, Any]:
  """StepSettings and the model config from the config's vocab/model/optim/ardf/loss sections."""
  vocab = vocab_lib.from_config(_section(config, 'vocab'))
  model_config = model_config_lib.from_config(_section(config, 'model'), vocab.size)
  optim = OptimConfig.from_dict(_section(config, 'optim'))
  tx = make_optimizer(optim)
  graphdef, _ = nnx.split(nnx.eval_shape(lambda: create_model(model_config, config.seed)),
                          nnx.Param)
  settings = StepSettings(graphdef, model_config, tx, learning_rate_schedule(optim), vocab,
                          ARDFConfig.from_dict(_section(config, 'ardf')),
                          LossConfig.from_dict(_section(config, 'loss')))
  return settings, model_config


def abstract_train_state(settings: StepSettings, seed: int, mesh) -> tuple[Any, Any]:
  """(abstract state with shardings, shardings), as `create_train_state` would build them.

  Nothing is allocated: a restore reads the checkpoint straight into these shardings.
  """
  abstract_model = nnx.eval_shape(lambda: create_model(settings.model, seed))
  _, params = nnx.split(abstract_model, nnx.Param)
  opt_state = jax.eval_shape(settings.tx.init, params)
  replicated = NamedSharding(mesh, P())
  shardings = TrainState(replicated, parallel.state_shardings(params, mesh),
                         parallel.state_shardings(opt_state, mesh), replicated)
  abstract = TrainState(jax.ShapeDtypeStruct((), jnp.int32), params, opt_state,
                        jax.eval_shape(lambda: jax.random.PRNGKey(seed)))
  return checkpoint_lib.abstract_like(abstract, shardings), shardings


def compile_guarded_step(settings: StepSettings, mesh, shardings):
  """`train_step` under jit, skipping updates whose loss or gradient norm is not finite.

  A skipped update keeps the params and optimizer state (the step counter advances, so the next
  batch gets its own mask key). Metrics gain `skipped` (int32 0/1) and are replicated.
  """

  def step(state: TrainState, batch):
    new_state, metrics = train_step(settings, state, batch)
    finite = jnp.isfinite(metrics['loss']) & jnp.isfinite(metrics['grad_norm'])
    params, opt_state = jax.tree.map(
        lambda new, old: jnp.where(finite, new, old),
        (new_state.params, new_state.opt_state), (state.params, state.opt_state))
    metrics = dict(metrics, skipped=jnp.logical_not(finite).astype(jnp.int32))
    return new_state.replace(params=params, opt_state=opt_state), metrics

  jitted = jax.jit(
      step,
      in_shardings=(shardings, parallel.batch_sharding(mesh)),
      out_shardings=(shardings, NamedSharding(mesh, P())),
      donate_argnums=0,  # the state: updated in place
  )

  def run(state, batch):
    with jax.set_mesh(mesh):
      return jitted(state, batch)

  return run


def compile_eval_step(settings: StepSettings, mesh, shardings):
  """Held-out loss: the train step's masking and loss with a fixed mask key, no update.

  Only the loss outputs are returned, so XLA drops the backward pass and the optimizer update.
  """

  def evaluate(state: TrainState, batch):
    key = jax.random.fold_in(state.rng, _EVAL_SALT)
    probe = state.replace(step=jnp.zeros_like(state.step), rng=key)
    _, metrics = train_step(settings, probe, batch)
    return {k: metrics[k] for k in ('loss', 'frame_losses', 'frame_counts', 'num_targets')}

  jitted = jax.jit(evaluate, in_shardings=(shardings, parallel.batch_sharding(mesh)),
                   out_shardings=NamedSharding(mesh, P()))

  def run(state, batch):
    with jax.set_mesh(mesh):
      return jitted(state, batch)

  return run


# -----------------------------------------------------------------------------------------------
# Data
# -----------------------------------------------------------------------------------------------


class _DefaultData:
  """The package's data pipeline (`lumos_jax.data`), imported on first use."""

  @staticmethod
  def is_prepared(config) -> bool:
    from lumos_jax.data import prepare  # pylint: disable=g-import-not-at-top
    return prepare.is_prepared(config)

  @staticmethod
  def prepare(config):
    from lumos_jax.data import prepare  # pylint: disable=g-import-not-at-top
    return prepare.prepare(config)

  @staticmethod
  def make_iterator(config, **kwargs):
    from lumos_jax.data import pipeline  # pylint: disable=g-import-not-at-top
    return pipeline.make_iterator(config, **kwargs)


def _prepare_data(config, data) -> None:
  """Synthetic source: writes the records on first use (process 0 first, then the others)."""
  if config.data.get('source') != 'synthetic':
    return
  if jax.process_index() == 0:
    if not data.is_prepared(config):
      logging.info('data: first use of this synthetic data set: preparing its records in %s',
                   config.data.dir)
    path = data.prepare(config)
    logging.info('data: synthetic records in %s', path)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices('lumos_jax.prepare')
    if jax.process_index() != 0:
      data.prepare(config)  # a no-op on a shared file system; local disks prepare their own


def _global_batch(local: Mapping[str, Any], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Host-local [B_local, L] arrays -> global [B_local * processes, L] arrays on the mesh."""
  out = {}
  for key in _BATCH_KEYS:
    if key not in local:
      raise ValueError(f'data iterator batch has keys {sorted(local)}; expected {_BATCH_KEYS}')
    out[key] = jax.make_array_from_process_local_data(sharding, np.asarray(local[key], np.int32))
  return out


def _check_batch(batch: Mapping[str, jax.Array], mesh) -> None:
  shards = mesh.shape['data'] * mesh.shape['fsdp']
  size = batch['tokens'].shape[0]
  if size % shards:
    raise ValueError(f'global batch size {size} is not divisible by data x fsdp = {shards} '
                     f'(mesh {dict(mesh.shape)}); change data.batch_size or mesh.shape')


# -----------------------------------------------------------------------------------------------
# Preemption
# -----------------------------------------------------------------------------------------------


class _Preemption:
  """SIGTERM -> checkpoint and clean exit.

  One process: a Python SIGTERM handler sets a flag. Several processes: jax's preemption sync
  manager (started by jax.distributed) catches the signal and makes every process agree on the
  step at which to stop.
  """

  def __init__(self):
    self._requested = False
    self._previous = None
    self._multi = jax.process_count() > 1
    if not self._multi and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self._requested = True

  def reached(self, step: int) -> bool:
    if self._multi:
      try:
        return multihost_utils.reached_preemption_sync_point(step)
      except RuntimeError:  # preemption service disabled
        return False
    return self._requested

  def close(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None


# -----------------------------------------------------------------------------------------------
# State: restore or initialise
# -----------------------------------------------------------------------------------------------


def _restore_or_init(config, settings, mesh, checkpointer, train_iter):
  """The resume order of the module docstring. Returns (state, shardings, start_step)."""
  abstract, shardings = abstract_train_state(settings, config.seed, mesh)
  restored = checkpointer.restore(abstract, train_iter)
  if restored is not None:
    logging.info('resuming from checkpoint %d in %s%s', restored.step, checkpointer.directory,
                 '' if restored.data_restored else ' (data iterator restarted)')
    _log_config_changes(restored.config, config)
    return restored.state, shardings, int(restored.step)
  logging.info('no checkpoint in %s: initialising from seed %d', checkpointer.directory,
               config.seed)
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


def _log_config_changes(saved: Mapping | None, config) -> None:
  if saved is None:
    return
  now = _flatten(json.loads(config.to_json_best_effort()))
  before = _flatten(saved)
  changed = {k: (before.get(k), now.get(k)) for k in sorted(set(now) | set(before))
             if before.get(k) != now.get(k)}
  for key, (old, new) in changed.items():
    logging.info('config changed since the checkpoint: %s: %r -> %r', key, old, new)


# -----------------------------------------------------------------------------------------------
# Evaluation
# -----------------------------------------------------------------------------------------------


class _HeldOut:
  """The held-out batches: one iterator, rewound to its start before every evaluation."""

  def __init__(self, config, data):
    self._config, self._data = config, data
    self._iterator = self._start = None

  def batches(self) -> Iterator[Mapping[str, Any]]:
    if self._iterator is None:
      self._iterator = self._data.make_iterator(
          self._config, split=self._config.train.eval_split, seed=self._config.seed,
          process_index=jax.process_index(), process_count=jax.process_count())
      self._start = self._iterator.get_state()
    else:
      self._iterator.set_state(self._start)
    for _ in range(self._config.train.eval_batches):
      yield next(self._iterator)


def _evaluate(held_out: _HeldOut, eval_step, state, batch_sharding) -> dict[str, Any]:
  """Token-weighted held-out loss over `train.eval_batches` batches (the same ones every time)."""
  total = targets = 0.0
  frame_sum = frame_count = 0.0
  for batch in held_out.batches():
    out = jax.device_get(eval_step(state, _global_batch(batch, batch_sharding)))
    n = float(out['num_targets'])
    total += float(out['loss']) * n
    targets += n
    counts = np.asarray(out['frame_counts'], np.float64)
    frame_sum = frame_sum + np.asarray(out['frame_losses'], np.float64) * counts
    frame_count = frame_count + counts
  return {
      'eval_loss': total / max(targets, 1.0),
      'eval_frame_losses': _frame_list(frame_sum / np.maximum(frame_count, 1), frame_count),
  }


class _Window:
  """Training metrics averaged over the steps since the last log line.

  Batches differ (image vs video batches, mask ratios), so one step's numbers are a poor summary:
  the loss is averaged per target token, frame losses per frame, the rest per step. Skipped
  (non-finite) steps are left out.
  """

  def __init__(self, max_frames: int):
    self.loss_sum = self.targets = self.grad_norm = self.mask_ratio = 0.0
    self.steps = 0
    self.frame_sum = np.zeros(max_frames)
    self.frame_count = np.zeros(max_frames)

  def add(self, m) -> None:
    if m['skipped']:
      return
    counts = np.asarray(m['frame_counts'], np.float64)
    self.loss_sum += float(m['loss']) * float(m['num_targets'])
    self.targets += float(m['num_targets'])
    self.frame_sum += np.asarray(m['frame_losses'], np.float64) * counts
    self.frame_count += counts
    self.grad_norm += float(m['grad_norm'])
    self.mask_ratio += float(m['mask_ratio'])
    self.steps += 1

  def means(self, last) -> dict:
    """The averaged metrics (the last step's own values if every step was skipped)."""
    if not self.steps:
      return {'loss': last['loss'], 'grad_norm': last['grad_norm'], 'mask_ratio': last['mask_ratio'],
              'frame_losses': _frame_list(last['frame_losses'], last['frame_counts']),
              'num_targets': last['num_targets']}
    return {
        'loss': self.loss_sum / max(self.targets, 1.0),
        'grad_norm': self.grad_norm / self.steps,
        'mask_ratio': self.mask_ratio / self.steps,
        'frame_losses': _frame_list(self.frame_sum / np.maximum(self.frame_count, 1),
                                    self.frame_count),
        'num_targets': int(self.targets),
    }


def _frame_list(losses, counts) -> list:
  """Per-frame losses up to the last frame that had targets; frames without any are null."""
  losses, counts = np.asarray(losses), np.asarray(counts)
  used = np.flatnonzero(counts > 0)
  n = int(used[-1]) + 1 if used.size else 0
  return [float(losses[i]) if counts[i] > 0 else None for i in range(n)]


# -----------------------------------------------------------------------------------------------
# The loop
# -----------------------------------------------------------------------------------------------


def _write_config(config, workdir: pathlib.Path) -> None:
  if jax.process_index() == 0:
    (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2) + '\n')


def run(config, workdir: str | pathlib.Path, *, hooks: Sequence[Hook] = (),
        data: Any = None) -> RunResult:
  """Trains `config` in `workdir`, resuming from its checkpoints. See the module docstring.

  Args:
    config: an ml_collections ConfigDict (configs/*.py).
    workdir: run directory: checkpoints/, metrics.jsonl, tensorboard/, config.json.
    hooks: called after every step as hook(step, metrics (host numpy), checkpointer).
    data: an object with `is_prepared(config)`, `prepare(config)` and
      `make_iterator(config, **kwargs)`; default: the package's pipeline (`lumos_jax.data`).
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  data = data or _DefaultData()
  tc, cc = _section(config, 'train'), _section(config, 'checkpoint')
  num_steps, log_every, eval_every = tc.num_steps, max(1, tc.log_every), tc.eval_every
  _write_config(config, workdir)

  settings, _ = build_settings(config)
  mesh = parallel.make_mesh(tuple(_section(config, 'mesh').shape))
  logging.info('mesh %s over %d devices in %d process(es)', dict(mesh.shape), mesh.size,
               jax.process_count())
  batch_sharding = parallel.batch_sharding(mesh)
  _prepare_data(config, data)
  train_iter = data.make_iterator(config, split='train', seed=config.seed,
                                  process_index=jax.process_index(),
                                  process_count=jax.process_count())
  checkpointer = checkpoint_lib.Checkpointer(workdir / CHECKPOINT_DIR, max_to_keep=cc.max_to_keep,
                                             async_save=cc.async_save)
  state, shardings, start_step = _restore_or_init(config, settings, mesh, checkpointer, train_iter)
  step_fn = compile_guarded_step(settings, mesh, shardings)
  eval_step = compile_eval_step(settings, mesh, shardings) if eval_every else None
  held_out = _HeldOut(config, data)

  writer = metrics_lib.MetricsWriter(workdir, num_steps=num_steps, start_step=start_step,
                                     enabled=jax.process_index() == 0,
                                     progress_bar=tc.get('progress_bar', True))
  preemption = _Preemption()
  save = functools.partial(checkpointer.save, data_iterator=train_iter, config=config)
  step, stopped = start_step, 'done'
  in_a_row = skipped_total = 0
  last_record = None
  interval_tokens, interval_start, interval_steps = 0.0, None, 0
  window = _Window(settings.loss.max_frames)
  try:
    while step < num_steps:
      if preemption.reached(step):
        stopped = 'preempted'
        break
      batch = _global_batch(next(train_iter), batch_sharding)
      if step == start_step:
        _check_batch(batch, mesh)
      state, metrics = step_fn(state, batch)
      metrics = jax.device_get(metrics)  # one small transfer; the step has to finish anyway
      step += 1
      writer.advance()
      now = time.perf_counter()
      if interval_start is None:  # the first step includes compilation: not timed
        interval_start = now
      else:
        interval_tokens += float(metrics['tokens'])
        interval_steps += 1

      window.add(metrics)
      if metrics['skipped']:
        in_a_row += 1
        skipped_total += 1
        logging.warning('step %d: non-finite loss %s / grad norm %s: update skipped (%d in a row)',
                        step, metrics['loss'], metrics['grad_norm'], in_a_row)
      else:
        in_a_row = 0

      evaluate_now = eval_every and step % eval_every == 0
      if step % log_every == 0 or step == num_steps or evaluate_now or metrics['skipped']:
        elapsed = now - interval_start
        record = {
            'step': step,
            **window.means(metrics),
            'lr': metrics['lr'],
            'tokens_per_s': interval_tokens / elapsed if interval_steps and elapsed > 0 else None,
            'step_time_s': elapsed / interval_steps if interval_steps else None,
            'skipped': metrics['skipped'],
            'skipped_total': skipped_total,
        }
        if evaluate_now:
          record.update(_evaluate(held_out, eval_step, state, batch_sharding))
        checkpointer.check()  # a failed background save must not go unnoticed until the next
        last_record = writer.write(record)
        interval_tokens, interval_start, interval_steps = 0.0, time.perf_counter(), 0
        window = _Window(settings.loss.max_frames)

      if in_a_row >= tc.max_nonfinite_in_a_row:
        save(step, state, wait=True)
        raise NonFiniteLossError(
            f'{in_a_row} updates in a row had a non-finite loss or gradient (last at step '
            f'{step}); they were skipped and checkpoint {step} holds the last finite params. '
            'Lower optim.learning_rate or check the data, then resume with the same workdir.')
      if step % cc.every_steps == 0 or step == num_steps:
        save(step, state)
      for hook in hooks:
        hook(step, metrics, checkpointer)

    if stopped == 'preempted':
      writer.message(f'preemption signal: saving checkpoint {step} and exiting')
      logging.warning('preemption signal at step %d: checkpointing and exiting', step)
    save(step, state, wait=True)  # no-op when this step is saved already
    checkpointer.wait()
  finally:
    preemption.close()
    writer.close()
    checkpointer.close()
  return RunResult(step=step, stopped=stopped, start_step=start_step,
                   skipped_updates=skipped_total, last_record=last_record)
