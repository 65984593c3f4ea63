# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""lumos_jax.train.metrics: metrics.jsonl records, TensorBoard scalars, console lines."""

import json

import numpy as np

# TensorBoard's own reader (the `test` extra): these tests check what TensorBoard will show.
from tensorboard.backend.event_processing import event_accumulator

from lumos_jax.train import metrics


def _events(workdir):
  return metrics.read_events(workdir / metrics.TENSORBOARD_DIR)


def test_writer_records_are_strict_json(tmp_path, capsys):
  writer = metrics.MetricsWriter(tmp_path, num_steps=10, progress_bar=False)
  record = writer.write(
      {
          'step': np.int32(2),
          'loss': np.float32(np.nan),
          'lr': np.asarray(1e-3),
          'frame_losses': [1.0, None],
          'tokens_per_s': None,
          'skipped': 1,
          'skipped_total': 1,
      }
  )
  writer.close()
  assert record['loss'] is None and record['step'] == 2
  line = (tmp_path / metrics.METRICS_FILE).read_text()
  assert json.loads(line) == record and 'NaN' not in line
  assert metrics.read_metrics(tmp_path) == [record]
  assert capsys.readouterr().out.strip() == 'step 2/10 | lr 1.00e-03 | skipped 1'
  tags = {tag for tag, _, _ in _events(tmp_path)}
  assert tags == {'train/lr', 'train/frame_losses/0', 'train/skipped', 'train/skipped_total'}


def test_tensorboard_scalars_tags_steps_and_values(tmp_path):
  writer = metrics.MetricsWriter(tmp_path, num_steps=10, progress_bar=False)
  writer.write(
      {
          'step': 1,
          'loss': np.float32(2.5),
          'lr': 1e-3,
          'frame_losses': [3.0, -0.25],
          'skipped': 0,
          'note': 'text',
          'finite': True,
      }
  )
  # Non-finite values (NaN, +-inf, also inside lists) are dropped, not written as NaN scalars.
  writer.write(
      {
          'step': 3,
          'loss': float('inf'),
          'grad_norm': np.float64(-np.inf),
          'eval_loss': 1.75,
          'eval_frame_losses': np.asarray([np.nan, 0.5]),
      }
  )
  writer.write({'step': 2**40, 'lr': np.float16(0.5)})
  writer.close()
  assert _events(tmp_path) == [
      ('train/loss', 1, 2.5),
      ('train/lr', 1, float(np.float32(1e-3))),  # TensorBoard stores float32
      ('train/frame_losses/0', 1, 3.0),
      ('train/frame_losses/1', 1, -0.25),
      ('train/skipped', 1, 0.0),
      ('eval/loss', 3, 1.75),
      ('eval/frame_losses/1', 3, 0.5),
      ('train/lr', 2**40, 0.5),
  ]


def test_resumed_writer_adds_a_file_and_tensorboard_hides_the_orphaned_steps(tmp_path):
  first = metrics.MetricsWriter(tmp_path, num_steps=4, progress_bar=False)
  for step in (1, 2, 3):
    first.write({'step': step, 'loss': float(step)})
  first.close()
  # Resumed from checkpoint 2 within the same second: step 3 is logged again.
  second = metrics.MetricsWriter(tmp_path, num_steps=4, start_step=2, progress_bar=False)
  for step in (3, 4):
    second.write({'step': step, 'loss': 10.0 * step})
  second.close()
  assert len(list((tmp_path / metrics.TENSORBOARD_DIR).iterdir())) == 2
  assert _events(tmp_path) == [
      ('train/loss', s, v) for s, v in [(1, 1.0), (2, 2.0), (3, 3.0), (3, 30.0), (4, 40.0)]
  ]
  accumulator = event_accumulator.EventAccumulator(str(tmp_path / metrics.TENSORBOARD_DIR))
  accumulator.Reload()
  shown = [(e.step, e.value) for e in accumulator.Scalars('train/loss')]
  assert shown == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 40.0)]


def test_read_events_of_an_empty_directory(tmp_path):
  assert not metrics.read_events(tmp_path)


def test_disabled_writer_writes_nothing(tmp_path):
  writer = metrics.MetricsWriter(tmp_path / 'w', num_steps=1, enabled=False)
  writer.write({'step': 1, 'loss': 1.0})
  writer.close()
  assert not (tmp_path / 'w').exists()


def test_console_line():
  record = {
      'step': 3,
      'loss': 1.23456,
      'lr': 2e-4,
      'grad_norm': 0.5,
      'eval_loss': 2.0,
      'skipped_total': 0,
  }
  assert (
      metrics.console_line(record, 10)
      == 'step 3/10 | loss 1.2346 | lr 2.00e-04 | gnorm 0.500 | heldout 2.0000'
  )
