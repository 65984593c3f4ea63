# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Multi-process training: `parallel.initialize_distributed` decisions, and a real run of
2 local processes x 2 CPU devices (gloo collectives, launch/local_multiprocess.sh; FSDP x context
parallelism, so parameters and each sequence are split over devices of both processes), stopped by
SIGTERM (both processes agree on a step, checkpoint it and exit 0), against 1 process x 4
devices; the 2-process checkpoint then restores in a single process.

The data is the tests' in-memory stream (driver_testing.FakeData), whose global batches do not
depend on the process layout, so both layouts train on the same batches.
"""

import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from lumos_jax import checkpoint, parallel
from lumos_jax.train import metrics as metrics_lib

from lumos_jax import testing as driver_testing

MIN_STEPS = 3  # SIGTERM once this many steps are logged
SETTINGS = {
    'train.num_steps': 1000,
    'train.eval_every': 0,
    'checkpoint.every_steps': 1000,
    'train.progress_bar': False,
    # FSDP x context parallelism over the 4 devices of the 2 processes
    'mesh.shape': '(1,2,1)',
    'mesh.context': 2,
}
LOSS_ATOL = 2e-6  # a few float32 ulps at losses ~4 (gloo vs in-process all-reduce order)
PARAM_ATOL = 1e-6

# -----------------------------------------------------------------------------------------------
# initialize_distributed: which environment leads to which call (jax.distributed mocked)
# -----------------------------------------------------------------------------------------------


@pytest.fixture
def calls(monkeypatch):
  recorded = []
  monkeypatch.setattr(jax.distributed, 'initialize', lambda *a, **k: recorded.append((a, k)))
  monkeypatch.setattr(jax.config, 'update', lambda *a: recorded.append(('config', a)))
  for var in (
      'SLURM_STEP_NODELIST',
      'SLURM_NTASKS',
      'TPU_WORKER_HOSTNAMES',
      'MEGASCALE_COORDINATOR_ADDRESS',
  ):
    monkeypatch.delenv(var, raising=False)
  return recorded


def test_single_process_by_default(calls):
  assert not parallel.initialize_distributed()
  assert not parallel.initialize_distributed('off', '127.0.0.1:1234', 2, 0)
  assert calls == []


def test_explicit_flags(calls):
  assert parallel.initialize_distributed('auto', '127.0.0.1:1234', 2, 1, [0, 1])
  assert calls == [
      ('config', ('jax_cpu_collectives_implementation', 'gloo')),
      (('127.0.0.1:1234', 2, 1), {'local_device_ids': [0, 1]}),
  ]


def test_partial_flags_are_an_error(calls):
  with pytest.raises(ValueError, match='give all of coordinator_address'):
    parallel.initialize_distributed('auto', '127.0.0.1:1234', None, 0)
  with pytest.raises(ValueError, match="expected 'auto', 'on' or 'off'"):
    parallel.initialize_distributed('yes')


@pytest.mark.parametrize(
    'env, expected',
    [
        ({'SLURM_STEP_NODELIST': 'node[1-6]', 'SLURM_NTASKS': '48'}, True),
        ({'SLURM_STEP_NODELIST': 'node1', 'SLURM_NTASKS': '1'}, False),  # one task: nothing to join
        ({'SLURM_NTASKS': '48'}, False),  # salloc shell outside an srun step
        ({'TPU_WORKER_HOSTNAMES': 'w0,w1,w2,w3'}, True),
        ({'TPU_WORKER_HOSTNAMES': 'localhost'}, False),
    ],
)
def test_auto_detects_cluster_environments(calls, monkeypatch, env, expected):
  for k, v in env.items():
    monkeypatch.setenv(k, v)
  assert parallel.initialize_distributed('auto') is expected
  assert calls == (
      [('config', ('jax_cpu_collectives_implementation', 'gloo')), ((None, None, None), {})]
      if expected
      else []
  )


def test_on_always_initialises(calls):
  assert parallel.initialize_distributed('on')
  assert calls[-1] == ((None, None, None), {})


# -----------------------------------------------------------------------------------------------
# 2 processes x 2 devices vs 1 process x 4 devices, then restore in 1 process
# -----------------------------------------------------------------------------------------------

_SINGLE_PROCESS = textwrap.dedent("""
    import json, shutil, sys
    from lumos_jax import testing as driver_testing
    from lumos_jax.train import loop

    config = driver_testing.load_config('tiny', **{overrides!r})
    loop.run(config, {reference!r}, data=driver_testing.FakeData())
    # The 2-process checkpoints, continued for 2 steps on this single process.
    shutil.copytree({two!r}, {resumed!r})
    config.train.num_steps = {steps} + 2
    result = loop.run(config, {resumed!r}, data=driver_testing.FakeData())
    print(json.dumps({{'start': result.start_step, 'step': result.step}}))
""")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_two_processes_match_one_and_restore_in_one(tmp_path):
  two = tmp_path / 'two_processes'
  env = driver_testing.subprocess_env()
  env.update(NUM_PROCESSES='2', CPU_DEVICES='2', PORT=str(_free_port()))
  launcher = subprocess.Popen(
      [
          'bash',
          str(driver_testing.REPO / 'launch' / 'local_multiprocess.sh'),
          sys.executable,
          '-m',
          'lumos_jax.testing',
          'train',
          f'--config={driver_testing.REPO}/configs/tiny.py',
          f'--workdir={two}',
          *driver_testing.cli_overrides(**SETTINGS, **{'data.dir': str(tmp_path / 'data')}),
      ],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
      cwd=tmp_path,
  )
  deadline = time.time() + 240
  while len(metrics_lib.read_metrics(two)) < MIN_STEPS:
    assert launcher.poll() is None and time.time() < deadline, launcher.communicate()[1][-6000:]
    time.sleep(0.1)
  launcher.send_signal(signal.SIGTERM)  # forwarded to both processes
  out, err = launcher.communicate(timeout=240)
  assert launcher.returncode == 0, err[-6000:]
  assert 'over 4 devices in 2 process(es)' in err
  steps = int(re.search(r'\[0\] preempted at step (\d+)', out).group(1))
  assert f'[1] preempted at step {steps}' in out  # both processes stopped at the same step
  assert checkpoint.Checkpointer(two / 'checkpoints').all_steps() == [steps]
  data_states = sorted(p.name for p in (two / 'checkpoints' / str(steps) / 'data').glob('*.json'))
  assert data_states == ['process_0-of-2.json', 'process_1-of-2.json']

  reference, resumed = tmp_path / 'one_process', tmp_path / 'resumed'
  overrides = {
      **SETTINGS,
      'train.num_steps': steps,
      'mesh.shape': (1, 2, 1),
      'data.dir': str(tmp_path / 'data'),
  }
  script = _SINGLE_PROCESS.format(
      overrides=overrides, reference=str(reference), two=str(two), resumed=str(resumed), steps=steps
  )
  single = subprocess.run(
      [sys.executable, '-c', script],
      env=driver_testing.subprocess_env(4),
      capture_output=True,
      text=True,
      timeout=300,
      cwd=tmp_path,
  )
  assert single.returncode == 0, single.stderr[-6000:]

  # Same losses at every step; only process 0 wrote metrics.
  got, want = metrics_lib.read_metrics(two), metrics_lib.read_metrics(reference)
  assert [r['step'] for r in got] == [r['step'] for r in want] == list(range(1, steps + 1))
  for a, b in zip(got, want):
    assert abs(a['loss'] - b['loss']) <= LOSS_ATOL, (a['step'], a['loss'], b['loss'])
  # Same parameters in the checkpoints written by 2 processes and by 1.
  a = checkpoint.load_state_arrays(two / 'checkpoints', steps)
  b = checkpoint.load_state_arrays(reference / 'checkpoints', steps)
  assert sorted(a) == sorted(b)
  for key in a:
    np.testing.assert_allclose(a[key], b[key], atol=PARAM_ATOL, rtol=0, err_msg=key)

  # The 2-process checkpoint restores in 1 process and trains on.
  assert f'"start": {steps}, "step": {steps + 2}' in single.stdout
  assert 'none for process 0 of 1' in single.stderr  # the per-process data states do not apply
  assert [r['step'] for r in metrics_lib.read_metrics(resumed)] == list(range(1, steps + 3))
