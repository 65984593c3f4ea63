# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Where training metrics go: `metrics.jsonl`, TensorBoard event files and the console.

One JSON object per logged step is appended to `WORKDIR/metrics.jsonl`, so a resumed run adds its
steps to the same file (steps between the last checkpoint and a crash appear twice; readers keep
the last record of a step). Non-finite floats are written as null (strict JSON). Only process 0
writes.

TensorBoard scalars go to `WORKDIR/tensorboard/events.out.tfevents.*` through tensorboardX's
`SummaryWriter`, which writes in a background thread and flushes every few seconds and on close.
`read_events` reads them back with TensorBoard's own loader (the `tensorboard` package, a test
extra).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
import time
from typing import Any, Mapping

import numpy as np
import tqdm

METRICS_FILE = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'
# Seconds between the TensorBoard writer's flushes: short enough to watch a run live (the
# default, two minutes, hides the first steps of a demo run); close() flushes the rest.
_TENSORBOARD_FLUSH_SECS = 10


def read_events(logdir: str | pathlib.Path) -> list[tuple[str, int, float]]:
  """Reads back every scalar in a directory's TensorBoard event files.

  Files are read in name order (tensorboardX names them by creation time) and records in file
  order, so a resumed run's repeated steps appear twice, the later value last. Like TensorBoard,
  reading a file stops at a truncated or corrupt record.

  Args:
    logdir: the directory holding `events.out.tfevents.*` files (not searched recursively).

  Returns:
    (tag, step, value) per scalar.

  Raises:
    ImportError: the `tensorboard` package (in the `test` extra) is not installed.
  """
  try:  # Lazy: only readers need TensorBoard; training itself writes with tensorboardX.
    # pylint: disable=import-outside-toplevel
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.util import tensor_util
  except ImportError as e:
    raise ImportError(
        'read_events needs the `tensorboard` package: '
        'pip install tensorboard (or lumos-jax[test])'
    ) from e
  out = []
  for path in sorted(pathlib.Path(logdir).glob('events.out.tfevents.*')):
    # EventFileLoader migrates legacy `simple_value` scalars to scalar tensors, as TensorBoard
    # shows them.
    for event in event_file_loader.EventFileLoader(str(path)).Load():
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == 'scalars':
          out.append((value.tag, event.step, tensor_util.make_ndarray(value.tensor).item()))
  return out


def _json_value(x: Any) -> Any:
  if isinstance(x, np.ndarray) and x.ndim == 0:
    x = x.item()
  if isinstance(x, (list, tuple, np.ndarray)):
    return [_json_value(v) for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
  if isinstance(x, (float, np.floating)):
    x = float(x)
    return x if math.isfinite(x) else None
  if isinstance(x, (np.integer, np.bool_)):
    return x.item()
  return x


def read_metrics(workdir: str | pathlib.Path) -> list[dict]:
  """All records of a workdir's metrics.jsonl, in file order."""
  path = pathlib.Path(workdir) / METRICS_FILE
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def console_line(record: Mapping[str, Any], num_steps: int) -> str:
  """A short human line: step, loss, lr, grad norm, mask ratio, throughput, held-out loss."""

  def fmt(key, spec, label=None):
    v = record.get(key)
    return None if v is None else f'{label or key} {v:{spec}}'

  parts = [
      f"step {record['step']}/{num_steps}",
      fmt('loss', '.4f'),
      fmt('lr', '.2e'),
      fmt('grad_norm', '.3f', 'gnorm'),
      fmt('mask_ratio', '.2f', 'mask'),
      fmt('tokens_per_s', '.3g', 'tok/s'),
      fmt('mfu', '.1%', 'mfu'),
      fmt('eval_loss', '.4f', 'heldout'),
  ]
  if record.get('skipped_total'):
    parts.append(f"skipped {record['skipped_total']}")
  return ' | '.join(p for p in parts if p)


class MetricsWriter:
  """Appends records to metrics.jsonl and TensorBoard; prints a line per record.

  Args:
    workdir: the run directory.
    num_steps: total steps (progress bar and console lines).
    start_step: the step the run starts from (resume).
    enabled: False on processes other than 0: nothing is written or printed.
    progress_bar: show a tqdm bar (on terminals only).
  """

  def __init__(
      self,
      workdir: str | pathlib.Path,
      *,
      num_steps: int,
      start_step: int = 0,
      enabled: bool = True,
      progress_bar: bool = True,
  ):
    self.enabled = enabled
    self.num_steps = num_steps
    self._file = self._tb = self._bar = None
    if not enabled:
      return
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    self._file = open(workdir / METRICS_FILE, 'a', encoding='utf-8')  # pylint: disable=R1732
    # Lazy: tensorboardX imports torch when it is installed, which only process 0 should pay for.
    import tensorboardX  # pylint: disable=import-outside-toplevel
    # tensorboardX names files by the second and truncates an existing one, so a run resumed
    # within the same second would overwrite the first file: the suffix keeps names unique, and
    # its fixed-width nanosecond clock keeps name order the creation order (read_events).
    # purge_step makes TensorBoard hide what a crashed run logged past its last checkpoint (the
    # resumed run logs those steps again, from start_step + 1).
    self._tb = tensorboardX.SummaryWriter(
        str(workdir / TENSORBOARD_DIR),
        flush_secs=_TENSORBOARD_FLUSH_SECS,
        filename_suffix=f'.{time.time_ns()}.{os.getpid()}',
        purge_step=start_step + 1 if start_step else None,
    )
    # disable=None: tqdm turns itself off when stderr is not a terminal (log files stay clean).
    self._bar = tqdm.tqdm(
        total=num_steps,
        initial=start_step,
        disable=None if progress_bar else True,
        dynamic_ncols=True,
        unit='step',
        file=sys.stderr,
    )

  def advance(self, n: int = 1) -> None:
    if self._bar is not None:
      self._bar.update(n)

  def write(self, record: Mapping[str, Any]) -> dict:
    """Writes one record (must hold 'step'); returns it as written (JSON values)."""
    record = {k: _json_value(v) for k, v in record.items()}
    if not self.enabled:
      return record
    self._file.write(json.dumps(record) + '\n')
    self._file.flush()
    scalars = {}
    for key, value in record.items():
      if key == 'step' or value is None:
        continue
      tag = f'eval/{key[5:]}' if key.startswith('eval_') else f'train/{key}'
      if isinstance(value, list):
        for i, v in enumerate(value):
          if v is not None:
            scalars[f'{tag}/{i}'] = v
      elif isinstance(value, (int, float)) and not isinstance(value, bool):
        scalars[tag] = value
    wall_time = time.time()
    for tag, value in scalars.items():
      self._tb.add_scalar(tag, float(value), global_step=record['step'], walltime=wall_time)
    line = console_line(record, self.num_steps)
    if self._bar is not None and not self._bar.disable:
      self._bar.set_postfix_str(f"loss {record.get('loss') or float('nan'):.4f}", refresh=False)
      self._bar.write(line, file=sys.stdout)
    else:
      print(line, flush=True)
    return record

  def message(self, text: str) -> None:
    """A console message that does not break the progress bar."""
    if not self.enabled:
      return
    if self._bar is not None and not self._bar.disable:
      self._bar.write(text, file=sys.stdout)
    else:
      print(text, flush=True)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
    if self._tb is not None:
      self._tb.close()
    if self._file is not None:
      self._file.close()
    self._file = self._tb = self._bar = None
