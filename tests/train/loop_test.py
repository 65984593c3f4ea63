# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The training driver in process (one CPU device, in-memory data): logs, checkpoints, resume,
fallback to an older checkpoint, SIGTERM, the non-finite guard, and the configs it reads."""

import os
import shutil
import signal

import numpy as np
import pytest

from lumos_jax import checkpoint
from lumos_jax import config as config_lib
from lumos_jax.data import prepare
from lumos_jax.data.records import RecordError
from lumos_jax.errors import ConfigError
from lumos_jax.train import loop, metrics as metrics_lib

from lumos_jax import testing as driver_testing
from lumos_jax.testing import FakeData

REQUIRED = ('step', 'loss', 'lr', 'grad_norm', 'frame_losses', 'mask_ratio', 'tokens_per_s')
driver_testing.enable_compilation_cache()


def _config(**overrides):
  base = {
      'train.progress_bar': False,
      'train.num_steps': 6,
      'train.eval_every': 3,
      'checkpoint.every_steps': 2,
      'checkpoint.max_to_keep': 2,
      'mesh.shape': (1, 1, 1),
  }
  return driver_testing.load_config('tiny', **{**base, **overrides})


def test_run_writes_metrics_events_config_and_checkpoints(tmp_path):
  data = FakeData()
  result = loop.run(_config(), tmp_path, data=data)
  assert result.stopped == 'done' and result.step == 6 and result.start_step == 0
  assert data.prepared == 1  # the synthetic source is prepared on first use

  records = metrics_lib.read_metrics(tmp_path)
  assert [r['step'] for r in records] == [1, 2, 3, 4, 5, 6]
  for r in records:
    assert set(REQUIRED) <= set(r), r
    assert np.isfinite(r['loss']) and r['lr'] >= 0 and r['grad_norm'] > 0
    assert 0.7 <= r['mask_ratio'] <= 1
    assert len(r['frame_losses']) == 3  # the fake clips have 3 latent frames
    assert r['skipped'] == 0 and r['skipped_total'] == 0
  assert records[0]['tokens_per_s'] is None  # the first step includes compilation
  assert all(r['tokens_per_s'] > 0 for r in records[1:])
  assert [r['step'] for r in records if 'eval_loss' in r] == [3, 6]
  assert records[2]['eval_loss'] > 0 and len(records[2]['eval_frame_losses']) == 3
  assert result.last_record == records[-1]

  events = metrics_lib.read_events(tmp_path / metrics_lib.TENSORBOARD_DIR)
  losses = {step: value for tag, step, value in events if tag == 'train/loss'}
  assert sorted(losses) == [1, 2, 3, 4, 5, 6]
  np.testing.assert_allclose(losses[4], records[3]['loss'], rtol=1e-6)
  assert {step for tag, step, _ in events if tag == 'eval/loss'} == {3, 6}
  assert any(tag == 'train/frame_losses/2' for tag, _, _ in events)

  saved = (tmp_path / 'config.json').read_text()
  assert '"num_steps": 6' in saved and '"mesh"' in saved
  assert checkpoint.Checkpointer(tmp_path / 'checkpoints').all_steps() == [4, 6]  # max_to_keep=2


def test_resume_appends_and_falls_back_past_an_unreadable_checkpoint(tmp_path, caplog):
  config = _config(**{'train.num_steps': 4, 'checkpoint.max_to_keep': 3})
  loop.run(config, tmp_path, data=FakeData())
  shutil.rmtree(tmp_path / 'checkpoints' / '4' / 'state')  # the newest is damaged
  caplog.set_level('INFO')
  result = loop.run(_config(), tmp_path, data=FakeData())
  assert result.start_step == 2 and result.step == 6
  assert 'checkpoint 4 in' in caplog.text and 'cannot be restored' in caplog.text
  assert 'resuming from checkpoint 2' in caplog.text
  assert 'train.num_steps: 4 -> 6' in caplog.text
  steps = [r['step'] for r in metrics_lib.read_metrics(tmp_path)]
  assert steps == [1, 2, 3, 4, 3, 4, 5, 6]  # appended; steps 3-4 replayed from checkpoint 2
  records = metrics_lib.read_metrics(tmp_path)
  assert records[2]['loss'] == records[4]['loss'] and records[3]['loss'] == records[5]['loss']
  # A finished run restarted with the same config does nothing.
  assert loop.run(_config(), tmp_path, data=FakeData()).start_step == 6


def test_sigterm_saves_and_returns(tmp_path):
  def preempt(step, metrics, ckpt):
    del metrics, ckpt
    if step == 3:
      os.kill(os.getpid(), signal.SIGTERM)

  before = signal.getsignal(signal.SIGTERM)
  result = loop.run(_config(**{'train.num_steps': 100}), tmp_path, hooks=[preempt], data=FakeData())
  assert result.stopped == 'preempted' and result.step == 3
  assert signal.getsignal(signal.SIGTERM) is before  # the handler is removed again
  assert checkpoint.Checkpointer(tmp_path / 'checkpoints').latest_step() == 3


def test_nonfinite_updates_are_skipped_then_the_run_stops(tmp_path):
  # A huge learning rate: the first update blows the params up, every later loss is not finite.
  config = _config(
      **{
          'optim.learning_rate': 1e30,
          'optim.min_learning_rate': 1e30,
          'optim.warmup_steps': 0,
          'train.num_steps': 50,
          'train.max_nonfinite_in_a_row': 3,
          'train.eval_every': 0,
      }
  )
  with pytest.raises(loop.NonFiniteLossError, match='3 updates in a row .* checkpoint 4'):
    loop.run(config, tmp_path, data=FakeData())
  records = metrics_lib.read_metrics(tmp_path)
  assert [r['skipped'] for r in records] == [0, 1, 1, 1]
  assert [r['skipped_total'] for r in records] == [0, 1, 2, 3]
  assert records[0]['loss'] is not None and records[1]['loss'] is None  # NaN -> null
  # Checkpoint 4 holds the params after update 1: the skipped updates left them alone.
  arrays = checkpoint.load_state_arrays(tmp_path / 'checkpoints', 4)
  assert int(arrays['step']) == 4
  params = {k: v for k, v in arrays.items() if k.startswith('params/')}
  assert all(np.isfinite(v).all() for v in params.values())
  count = [v for k, v in arrays.items() if k.endswith('/count')]
  assert count and all(int(c) == 1 for c in count)  # optimizer state saw one update


def test_batch_not_divisible_by_mesh_is_reported():
  # One device divides every batch: check the check itself with a mesh of 2 data shards.
  mesh = type('Mesh', (), {'shape': {'data': 2, 'fsdp': 1}})()
  with pytest.raises(ValueError, match='not divisible by data x fsdp = 2'):
    loop._check_batch({'tokens': np.zeros((3, 4))}, mesh)  # pylint: disable=protected-access


def test_config_errors_name_the_key(tmp_path):
  config = _config()
  config.model.embed_dimm = 32
  with pytest.raises(
      ConfigError, match='config.model.embed_dimm: unknown key; did you mean embed_dim?'
  ):
    loop.run(config, tmp_path, data=FakeData())
  assert not (tmp_path / 'checkpoints').exists()


def test_logged_metrics_average_the_interval(tmp_path):
  seen = []
  config = _config(**{'train.log_every': 3, 'train.eval_every': 0})
  loop.run(config, tmp_path, data=FakeData(), hooks=[lambda step, m, c: seen.append(m)])
  records = metrics_lib.read_metrics(tmp_path)
  assert [r['step'] for r in records] == [3, 6]
  for record, window in zip(records, (seen[:3], seen[3:])):
    targets = np.array([float(m['num_targets']) for m in window])
    losses = np.array([float(m['loss']) for m in window])
    np.testing.assert_allclose(record['loss'], (losses * targets).sum() / targets.sum(), rtol=1e-6)
    np.testing.assert_allclose(
        record['grad_norm'], np.mean([m['grad_norm'] for m in window]), rtol=1e-6
    )
    assert record['num_targets'] == targets.sum()


def test_profile_steps_write_a_trace(tmp_path):
  config = _config(**{'train.profile_steps': (2, 3), 'train.eval_every': 0})
  loop.run(config, tmp_path, data=FakeData())
  traces = list((tmp_path / 'profile').rglob('*.xplane.pb'))
  assert len(traces) == 1 and traces[0].stat().st_size > 0


def test_a_truncated_heldout_shard_is_named_before_step_one(tmp_path):
  config = _config(
      **{
          'data.dir': str(tmp_path / 'data'),
          'data.num_train': 16,
          'data.num_train_images': 0,
          'data.num_heldout': 8,
          'data.num_heldout_images': 0,
          'data.tokenizer.fit_items': 8,
      }
  )
  parsed = config_lib.parse(config)
  version = prepare.prepare(parsed.data, parsed.vocab)
  (shard,) = (version / 'records').rglob('*heldout.array_record*')
  shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
  with pytest.raises(RecordError, match=f"{shard.name} \\(split 'heldout'\\).*truncated"):
    loop.run(config, tmp_path / 'run')
  assert not (tmp_path / 'run' / 'checkpoints').exists()


def test_an_error_stops_the_run_without_saving_its_step(tmp_path):
  def boom(step, metrics, ckpt):
    del metrics, ckpt
    if step == 3:
      raise RuntimeError('boom')

  with pytest.raises(RuntimeError, match='boom'):
    loop.run(_config(**{'train.eval_every': 0}), tmp_path, hooks=[boom], data=FakeData())
  assert checkpoint.Checkpointer(tmp_path / 'checkpoints').all_steps() == [2]
