# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Exact resume and cross-mesh restore through `python -m lumos_jax train` (CPU subprocesses).

The tiny config on its real data pipeline (synthetic records prepared once per module):
  * N steps straight vs. a run SIGKILLed after step N/2 + 2 (checkpoint N/2 committed) and then
    resumed to N: identical losses for every step after the resume point, identical final params;
  * a run checkpointed on 8 devices (mesh (2,2,2)) continues on 4 devices, then on 1, with the
    losses of the single-device run (float32 ulps apart: sharded reductions sum in another order).
"""

import signal
import subprocess
import sys
import textwrap

import numpy as np
from lumos_jax import checkpoint
from lumos_jax.train import metrics as metrics_lib

from lumos_jax import testing as driver_testing

N = 8
HALF = N // 2
SETTINGS = {
    'train.num_steps': N,
    'train.log_every': 1,
    'train.eval_every': HALF,
    'checkpoint.every_steps': HALF,
    'train.progress_bar': False,
    'mesh.shape': '(-1,1,1)',
}
MESH_LOSS_ATOL = 2e-5  # losses ~4: sharded vs single-device float32 sums, after a few updates

_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from lumos_jax import testing as driver_testing
    from lumos_jax.train import loop

    def kill(step, metrics, checkpointer):
      if step == {kill_at}:
        checkpointer.wait()  # checkpoint {half} is committed; later steps are lost
        os.kill(os.getpid(), signal.SIGKILL)

    config = driver_testing.load_config('tiny', **{overrides!r})
    loop.run(config, {workdir!r}, hooks=[kill])
""")


def _train(workdir, data_dir, devices=1, **overrides):
  settings = {**SETTINGS, 'data.dir': str(data_dir), **overrides}
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'lumos_jax',
          'train',
          f'--config={driver_testing.REPO}/configs/tiny.py',
          f'--workdir={workdir}',
          *driver_testing.cli_overrides(**settings),
      ],
      env=driver_testing.subprocess_env(devices),
      capture_output=True,
      text=True,
      timeout=300,
      cwd=driver_testing.REPO,
  )
  assert proc.returncode == 0, proc.stderr[-6000:]
  return proc


def _losses(workdir):
  return [(r['step'], r['loss']) for r in metrics_lib.read_metrics(workdir)]


def test_resume(tmp_path):
  """One test, so that parallel workers do not each repeat the reference run."""
  data_dir = tmp_path / 'data'
  straight = tmp_path / 'straight'
  proc = _train(straight, data_dir)
  assert 'data: first use of this synthetic data set: preparing' in proc.stderr  # logged
  assert f'done at step {N}' in proc.stdout
  _check_sigkill_and_resume_is_exact(tmp_path / 'killed', data_dir, straight)
  _check_restore_on_a_different_mesh(tmp_path / 'meshes', data_dir, straight)


def _check_sigkill_and_resume_is_exact(tmp_path, data_dir, straight):
  overrides = {**SETTINGS, 'data.dir': str(data_dir), 'mesh.shape': (-1, 1, 1)}
  script = _KILL_SCRIPT.format(
      kill_at=HALF + 2, half=HALF, overrides=overrides, workdir=str(tmp_path)
  )
  tmp_path.mkdir()
  proc = subprocess.run(
      [sys.executable, '-c', script],
      env=driver_testing.subprocess_env(1),
      capture_output=True,
      text=True,
      timeout=300,
      cwd=driver_testing.REPO,
  )
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-6000:]
  assert [s for s, _ in _losses(tmp_path)] == list(range(1, HALF + 3))
  assert checkpoint.Checkpointer(tmp_path / 'checkpoints').all_steps() == [HALF]

  resumed = _train(tmp_path, data_dir)
  assert f'resuming from checkpoint {HALF}' in resumed.stderr

  want = dict(_losses(straight))
  got = _losses(tmp_path)
  # Steps HALF+1, HALF+2 ran twice (before the kill, after the resume): all equal the straight run.
  assert [s for s, _ in got] == list(range(1, HALF + 3)) + list(range(HALF + 1, N + 1))
  for step, loss in got:
    assert loss == want[step], (step, loss, want[step])
  evals = {
      r['step']: r['eval_loss'] for r in metrics_lib.read_metrics(straight) if 'eval_loss' in r
  }
  for r in metrics_lib.read_metrics(tmp_path):
    if 'eval_loss' in r:
      assert r['eval_loss'] == evals[r['step']]

  a = checkpoint.load_state_arrays(straight / 'checkpoints', N)
  b = checkpoint.load_state_arrays(tmp_path / 'checkpoints', N)
  assert sorted(a) == sorted(b) and len(a) > 40
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _check_restore_on_a_different_mesh(tmp_path, data_dir, straight):
  no_eval = {'train.eval_every': 0}  # held-out losses are checked above; saves compiles
  _train(
      tmp_path,
      data_dir,
      devices=8,
      **{'mesh.shape': '(2,2,2)', 'train.num_steps': HALF, 'checkpoint.every_steps': 2},
      **no_eval,
  )
  on4 = _train(
      tmp_path,
      data_dir,
      devices=4,
      **{'mesh.shape': '(1,2,2)', 'train.num_steps': HALF + 2},
      **no_eval,
  )
  assert f'resuming from checkpoint {HALF} ' in on4.stderr
  on1 = _train(tmp_path, data_dir, devices=1, **{'mesh.shape': '(1,1,1)'}, **no_eval)
  assert f'resuming from checkpoint {HALF + 2} ' in on1.stderr
  want = dict(_losses(straight))
  got = _losses(tmp_path)
  assert [s for s, _ in got] == list(range(1, N + 1))
  for step, loss in got:
    assert abs(loss - want[step]) <= MESH_LOSS_ATOL, (step, loss, want[step])
