# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""What happens around the train step, one hook per concern, each with its own period.

The driver (`loop.train`) runs a step, then calls every hook in order with
(step, state, metrics); `metrics` is the step's host-side dict, which a hook may extend for the
hooks after it (the held-out evaluation adds `eval_*` keys that the log hook writes). A hook
returns a stop reason ('preempted', 'nonfinite') to end the run after this step. `end` runs once
when the run stops, whatever the reason.
"""

from __future__ import annotations

import pathlib
import signal
import threading
import time
from typing import Any, Callable, Iterator, Mapping

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from lumos_jax import checkpoint as checkpoint_lib
from lumos_jax import flops as flops_lib
from lumos_jax.train import metrics as metrics_lib


class Hook:
  """Base class: override `after_step` and, if needed, `begin` and `end`."""

  def begin(self, start_step: int) -> None:
    """Called once before the first step of this run (`start_step` after a resume)."""

  def after_step(self, step: int, state: Any, metrics: dict) -> str | None:
    """Called after every step; returns a stop reason or None."""
    del step, state, metrics

  def end(self, step: int, state: Any, stopped: str) -> None:
    """Called once when the run stops ('done', 'preempted', 'nonfinite' or 'error')."""


class Callback(Hook):
  """A plain function `fn(step, metrics, checkpointer)` called after every step (tests, users)."""

  def __init__(self, fn: Callable, checkpointer: checkpoint_lib.Checkpointer):
    self.fn, self.checkpointer = fn, checkpointer

  def after_step(self, step, state, metrics):
    return self.fn(step, metrics, self.checkpointer)


# -----------------------------------------------------------------------------------------------
# Metrics
# -----------------------------------------------------------------------------------------------


def frame_list(losses, counts) -> list:
  """Per-frame losses up to the last frame that had targets; frames without any are null."""
  losses, counts = np.asarray(losses), np.asarray(counts)
  used = np.flatnonzero(counts > 0)
  n = int(used[-1]) + 1 if used.size else 0
  return [float(losses[i]) if counts[i] > 0 else None for i in range(n)]


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

  def add(self, m: Mapping[str, Any]) -> None:
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

  def means(self, last: Mapping[str, Any]) -> dict:
    """The averaged metrics (the last step's own values if every step was skipped)."""
    if not self.steps:
      return {
          'loss': last['loss'],
          'grad_norm': last['grad_norm'],
          'mask_ratio': last['mask_ratio'],
          'frame_losses': frame_list(last['frame_losses'], last['frame_counts']),
          'num_targets': last['num_targets'],
      }
    return {
        'loss': self.loss_sum / max(self.targets, 1.0),
        'grad_norm': self.grad_norm / self.steps,
        'mask_ratio': self.mask_ratio / self.steps,
        'frame_losses': frame_list(
            self.frame_sum / np.maximum(self.frame_count, 1), self.frame_count
        ),
        'num_targets': int(self.targets),
    }


class LogMetrics(Hook):
  """Every `every` steps (and at the last step, after a skipped update, or with eval results):
  the window's averages, learning rate and throughput to metrics.jsonl, TensorBoard and the
  console. The first step of a run includes compilation and is not timed.

  Throughput is real tokens per second and, when `peak_flops` (FLOP/s of all devices together)
  is known, MFU: the window's model FLOPs (`model_flops` of its tokens, loss targets and
  attended pairs, see lumos_jax/flops.py) / (seconds x peak_flops).
  """

  def __init__(
      self,
      writer: metrics_lib.MetricsWriter,
      every: int,
      num_steps: int,
      max_frames: int,
      model_flops: flops_lib.ModelFlops | None = None,
      peak_flops: float | None = None,
  ):
    self.writer, self.every, self.num_steps, self.max_frames = writer, every, num_steps, max_frames
    self.model_flops, self.peak_flops = model_flops, peak_flops
    self.last_record: dict | None = None
    self._reset(None)

  def _reset(self, start: float | None) -> None:
    self.window = _Window(self.max_frames)
    self.tokens = self.targets = self.pairs = 0.0
    self.steps, self.start = 0, start

  def _mfu(self, elapsed: float) -> float | None:
    if not (self.model_flops and self.peak_flops and self.steps and elapsed > 0):
      return None
    flops = self.model_flops(self.tokens, self.targets, self.pairs)
    return flops / (elapsed * self.peak_flops)

  def after_step(self, step, state, metrics):
    self.writer.advance()
    now = time.perf_counter()
    if self.start is None:
      self.start = now
    else:
      self.tokens += float(metrics['tokens'])
      self.targets += float(metrics['num_targets'])
      self.pairs += float(metrics['attended_pairs'])
      self.steps += 1
    self.window.add(metrics)
    evaluated = 'eval_loss' in metrics
    if step % self.every and step != self.num_steps and not evaluated and not metrics['skipped']:
      return None
    elapsed = now - self.start
    record = {
        'step': step,
        **self.window.means(metrics),
        'lr': metrics['lr'],
        'tokens_per_s': self.tokens / elapsed if self.steps and elapsed > 0 else None,
        'mfu': self._mfu(elapsed),
        'step_time_s': elapsed / self.steps if self.steps else None,
        'skipped': metrics['skipped'],
        'skipped_total': metrics.get('skipped_total', 0),
        **{k: v for k, v in metrics.items() if k.startswith('eval_')},
    }
    self.last_record = self.writer.write(record)
    self._reset(time.perf_counter())
    return None


class HeldOutEval(Hook):
  """Every `every` steps: the token-weighted held-out loss over the same batches each time."""

  def __init__(self, eval_step: Callable, batches: Callable[[], Iterator[dict]], every: int):
    self.eval_step, self.batches, self.every = eval_step, batches, every

  def after_step(self, step, state, metrics):
    if step % self.every:
      return None
    total = targets = 0.0
    frame_sum = frame_count = 0.0
    for batch in self.batches():
      out = jax.device_get(self.eval_step(state, batch))
      n = float(out['num_targets'])
      total += float(out['loss']) * n
      targets += n
      counts = np.asarray(out['frame_counts'], np.float64)
      frame_sum = frame_sum + np.asarray(out['frame_losses'], np.float64) * counts
      frame_count = frame_count + counts
    metrics['eval_loss'] = total / max(targets, 1.0)
    metrics['eval_frame_losses'] = frame_list(frame_sum / np.maximum(frame_count, 1), frame_count)
    return None


# -----------------------------------------------------------------------------------------------
# Stopping: non-finite updates, preemption
# -----------------------------------------------------------------------------------------------


class NonFiniteGuard(Hook):
  """Counts skipped (non-finite) updates; stops after `max_in_a_row` in a row.

  The step itself skips such updates (train.step); the run then saves the last finite params
  and `loop.run` raises NonFiniteLossError with `message`.
  """

  def __init__(self, max_in_a_row: int):
    self.max_in_a_row = max_in_a_row
    self.in_a_row = self.total = 0
    self.message = ''

  def after_step(self, step, state, metrics):
    if not metrics['skipped']:
      self.in_a_row = 0
      metrics['skipped_total'] = self.total
      return None
    self.in_a_row += 1
    self.total += 1
    metrics['skipped_total'] = self.total
    logging.warning(
        'step %d: non-finite loss %s / grad norm %s: update skipped (%d in a row)',
        step,
        metrics['loss'],
        metrics['grad_norm'],
        self.in_a_row,
    )
    if self.in_a_row < self.max_in_a_row:
      return None
    self.message = (
        f'{self.in_a_row} updates in a row had a non-finite loss or gradient (last at step '
        f'{step}); they were skipped and checkpoint {step} holds the last finite params. '
        'Lower optim.learning_rate or check the data, then resume with the same workdir.'
    )
    return 'nonfinite'


class Preemption(Hook):
  """SIGTERM -> stop after the current step (the checkpoint hook then saves it).

  One process: a Python SIGTERM handler sets a flag. Several processes: jax's preemption sync
  manager (started by jax.distributed) catches the signal and makes every process agree on the
  step at which to stop.
  """

  def __init__(self, writer: metrics_lib.MetricsWriter):
    self.writer = writer
    self._requested = False
    self._previous = None
    self._multi = jax.process_count() > 1

  def begin(self, start_step):
    if not self._multi and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self._requested = True

  def after_step(self, step, state, metrics):
    if self._multi:
      try:
        reached = multihost_utils.reached_preemption_sync_point(step)
      except RuntimeError:  # preemption service disabled
        reached = False
    else:
      reached = self._requested
    return 'preempted' if reached else None

  def end(self, step, state, stopped):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None
    if stopped == 'preempted':
      self.writer.message(f'preemption signal: saving checkpoint {step} and exiting')
      logging.warning('preemption signal at step %d: checkpointing and exiting', step)


# -----------------------------------------------------------------------------------------------
# Checkpoints and profiling
# -----------------------------------------------------------------------------------------------


class Checkpointing(Hook):
  """Every `every` steps and at the last one; when the run stops (unless by an error), a blocking
  save of the final step (a no-op when that step is saved already)."""

  def __init__(
      self,
      checkpointer: checkpoint_lib.Checkpointer,
      every: int,
      num_steps: int,
      data_iterator: Any,
      config: Any,
  ):
    self.checkpointer, self.every, self.num_steps = checkpointer, every, num_steps
    self.data_iterator, self.config = data_iterator, config

  def after_step(self, step, state, metrics):
    self.checkpointer.check()  # a failed background save must not go unnoticed
    if step % self.every == 0 or step == self.num_steps:
      self.checkpointer.save(step, state, self.data_iterator, self.config)

  def end(self, step, state, stopped):
    if stopped == 'error':
      return
    self.checkpointer.save(step, state, self.data_iterator, self.config, wait=True)
    self.checkpointer.wait()


class Profile(Hook):
  """A `jax.profiler` trace of steps [first, last] into `logdir` (view it in TensorBoard's
  profile tab or Perfetto)."""

  def __init__(self, first: int, last: int, logdir: str | pathlib.Path):
    self.first, self.last, self.logdir = first, last, str(logdir)
    self.active = False

  def _start(self) -> None:
    logging.info('profiling steps %d-%d into %s', self.first, self.last, self.logdir)
    jax.profiler.start_trace(self.logdir)
    self.active = True

  def begin(self, start_step):
    if start_step + 1 == self.first:
      self._start()

  def after_step(self, step, state, metrics):
    if step + 1 == self.first:
      self._start()
    elif self.active and step >= self.last:
      jax.block_until_ready(state)
      jax.profiler.stop_trace()
      self.active = False

  def end(self, step, state, stopped):
    if self.active:
      jax.profiler.stop_trace()
      self.active = False
