# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""lumos_jax.checkpoint: save/restore of state + grain iterator + config, fallbacks, retention."""

import json
import shutil

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from lumos_jax import checkpoint, parallel


def _state(seed=0):
  key = jax.random.PRNGKey(seed)
  return {
      'step': jnp.asarray(seed, jnp.int32),
      'params': {'w': jax.random.normal(key, (4, 6)), 'b': jnp.arange(3.0)},
      'rng': key,
  }


def _abstract(state):
  mesh = parallel.make_mesh((1, 1, 1))
  shardings = jax.tree.map(lambda _: NamedSharding(mesh, P()), state)
  return checkpoint.abstract_like(state, shardings)


def _iterator():
  return iter(grain.MapDataset.range(100).to_iter_dataset())


def _assert_equal(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_with_iterator_and_config(tmp_path):
  ckpt = checkpoint.Checkpointer(tmp_path, max_to_keep=2)
  it = _iterator()
  assert [next(it) for _ in range(3)] == [0, 1, 2]
  state = _state(3)
  assert ckpt.save(3, state, it, {'train': {'num_steps': 7}}, wait=True)
  assert not ckpt.save(3, state, it)  # an existing step is not overwritten
  assert next(it) == 3  # saving does not move the iterator

  fresh = _iterator()
  restored = ckpt.restore(_abstract(state), fresh)
  assert restored.step == 3 and restored.data_restored and restored.skipped == []
  assert restored.config == {'train': {'num_steps': 7}}
  _assert_equal(restored.state, state)
  assert next(fresh) == 3  # the iterator continues where the saved one was
  flat = checkpoint.load_state_arrays(tmp_path)
  assert sorted(flat) == ['params/b', 'params/w', 'rng', 'step']
  np.testing.assert_array_equal(flat['params/w'], np.asarray(state['params']['w']))
  ckpt.close()


def test_keeps_max_to_keep_and_restores_the_latest(tmp_path):
  ckpt = checkpoint.Checkpointer(tmp_path, max_to_keep=2)
  for step in (1, 2, 3):
    ckpt.save(step, _state(step))
  ckpt.wait()
  assert ckpt.all_steps() == [2, 3]
  restored = ckpt.restore(_abstract(_state()))
  assert restored.step == 3 and restored.config is None and not restored.data_restored
  _assert_equal(restored.state, _state(3))
  ckpt.close()
  assert checkpoint.Checkpointer(tmp_path / 'empty').restore(_abstract(_state())) is None


@pytest.mark.parametrize('damage', ['delete_state', 'truncate_files'])
def test_unreadable_latest_falls_back_to_previous(tmp_path, damage, caplog):
  ckpt = checkpoint.Checkpointer(tmp_path, max_to_keep=3)
  for step in (1, 2):
    ckpt.save(step, _state(step), _iterator())
  ckpt.close()
  state_dir = tmp_path / '2' / 'state'
  if damage == 'delete_state':
    shutil.rmtree(state_dir)
  else:
    for f in state_dir.rglob('*'):
      if f.is_file():
        f.write_bytes(f.read_bytes()[:7])
  caplog.set_level('WARNING')
  restored = checkpoint.Checkpointer(tmp_path).restore(_abstract(_state()), _iterator())
  assert restored.step == 1
  assert [s for s, _ in restored.skipped] == [2]
  _assert_equal(restored.state, _state(1))
  assert 'checkpoint 2 in' in caplog.text and 'cannot be restored' in caplog.text
  with pytest.raises(Exception):  # noqa: B017  an explicit step does not fall back: any error
    checkpoint.Checkpointer(tmp_path).restore(_abstract(_state()), step=2)


def test_iterator_state_of_another_process_layout_is_not_used(tmp_path, caplog):
  ckpt = checkpoint.Checkpointer(tmp_path)
  it = _iterator()
  next(it)
  ckpt.save(1, _state(1), it, wait=True)
  ckpt.close()
  data_dir = tmp_path / '1' / 'data'
  (data_dir / 'process_0-of-1.json').rename(data_dir / 'process_0-of-2.json')
  (data_dir / 'process_1-of-2.json').write_text(json.dumps({'next_index': 1}))
  caplog.set_level('WARNING')
  fresh = _iterator()
  restored = checkpoint.Checkpointer(tmp_path).restore(_abstract(_state()), fresh)
  assert restored.step == 1 and not restored.data_restored
  assert next(fresh) == 0
  assert 'none for process 0 of 1' in caplog.text


def test_max_to_keep_must_be_positive(tmp_path):
  with pytest.raises(ValueError, match='max_to_keep'):
    checkpoint.Checkpointer(tmp_path, max_to_keep=0)


def test_relative_directory_saves_asynchronously_and_reads_back(tmp_path, monkeypatch):
  """Orbax's writer needs absolute paths; a relative workdir (e.g. outputs/demo/run) must work."""
  monkeypatch.chdir(tmp_path)
  ckpt = checkpoint.Checkpointer('run/checkpoints', max_to_keep=2, async_save=True)
  state = {'w': jnp.arange(6.0).reshape(2, 3), 'step': jnp.int32(3)}
  ckpt.save(3, state)
  ckpt.wait()
  ckpt.check()
  assert ckpt.all_steps() == [3]
  ckpt.close()
  arrays = checkpoint.load_state_arrays('run/checkpoints')
  np.testing.assert_array_equal(arrays['w'], np.arange(6.0).reshape(2, 3))
