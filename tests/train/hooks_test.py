# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`LogMetrics`: tokens/s and MFU over the steps of a log window, from a controlled clock."""

import numpy as np
import pytest

from lumos_jax import flops
from lumos_jax.train import hooks, metrics


def _step_metrics(tokens, targets, pairs):
  return {
      'loss': 2.0,
      'num_targets': targets,
      'frame_losses': np.zeros(2),
      'frame_counts': np.ones(2),
      'grad_norm': 1.0,
      'mask_ratio': 0.5,
      'lr': 1e-3,
      'skipped': 0,
      'tokens': tokens,
      'attended_pairs': pairs,
  }


def _log(tmp_path, monkeypatch, peak):
  clock = iter([100.0, 102.0, 106.0, 107.0])  # step 1 (not timed), steps 2 and 3, reset
  monkeypatch.setattr(hooks.time, 'perf_counter', lambda: next(clock))
  writer = metrics.MetricsWriter(tmp_path, num_steps=3, progress_bar=False)
  log = hooks.LogMetrics(
      writer, 3, 3, 2, flops.ModelFlops(per_token=10.0, per_target=3.0, per_pair=2.0), peak
  )
  counts = [(1000, 10, 5e4), (400, 8, 3e4), (600, 12, 2e4)]  # tokens, targets, pairs
  for step, c in enumerate(counts, 1):
    log.after_step(step, None, _step_metrics(*c))
  writer.close()
  return log.last_record


@pytest.mark.parametrize('peak', [1e5, None])
def test_mfu_is_model_flops_of_the_timed_steps_over_peak(tmp_path, monkeypatch, capsys, peak):
  record = _log(tmp_path, monkeypatch, peak)
  # Steps 2 and 3 are timed (6 s): 1000 tokens, 20 targets, 5e4 pairs
  # -> 10 x 1000 + 3 x 20 + 2 x 5e4 = 110,060 model FLOPs.
  assert record['tokens_per_s'] == pytest.approx(1000 / 6)
  if peak is None:  # unknown chip (CPU): no MFU
    assert record['mfu'] is None
    assert 'mfu' not in capsys.readouterr().out
  else:
    assert record['mfu'] == pytest.approx(110_060 / (6 * 1e5))
    assert '| mfu 18.3%' in capsys.readouterr().out
