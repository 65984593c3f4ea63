# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`python -m lumos_jax`: flags, usage errors, locked config overrides, SIGTERM -> exit 0."""

import json
import signal
import subprocess
import sys
import time

from lumos_jax import checkpoint
from lumos_jax.train import metrics as metrics_lib

from lumos_jax import testing as driver_testing

TINY = f'--config={driver_testing.REPO}/configs/tiny.py'


def _cli(*args, timeout=120):
  return subprocess.run(
      [sys.executable, '-m', 'lumos_jax', *args],
      capture_output=True,
      text=True,
      timeout=timeout,
      env=driver_testing.subprocess_env(1),
      cwd=driver_testing.REPO,
  )


def test_help_lists_the_flags():
  proc = _cli('--help')  # absl exits with status 1 after printing the help
  assert 'python -m lumos_jax <command>' in proc.stdout
  for flag in ('--config', '--workdir', '--coordinator_address', '--distributed'):
    assert flag in proc.stdout, flag


def test_usage_errors():
  proc = _cli('fly', TINY)
  usage = next(line for line in proc.stderr.splitlines() if line.startswith('usage:'))
  assert proc.returncode != 0 and usage.startswith('usage: python -m lumos_jax {prepare|train|')
  assert {'sample', 'eval', 'plan'} <= set(usage.split('{')[1].split('}')[0].split('|'))
  proc = _cli('train', TINY)
  assert proc.returncode != 0 and 'train needs --workdir' in proc.stderr
  proc = _cli('train', TINY, '--workdir=/tmp/never', '--config.train.num_stepz=3')
  assert proc.returncode != 0 and 'num_stepz' in proc.stderr  # the config is locked


def test_plan_errors_are_one_line():
  proc = _cli('plan', TINY, '--devices=0')
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1] == (
      'error: --devices=0: expected a positive number of devices'
  )
  proc = _cli('plan', TINY, '--resolution=64')
  assert proc.returncode == 2 and "--resolution='64': expected WxH" in proc.stderr


def test_sigterm_checkpoints_and_exits_zero(tmp_path):
  workdir = tmp_path / 'run'
  proc = subprocess.Popen(
      [
          sys.executable,
          '-m',
          'lumos_jax.testing',
          'train',
          TINY,
          f'--workdir={workdir}',
          *driver_testing.cli_overrides(
              **{
                  'train.num_steps': 10000,
                  'train.eval_every': 0,
                  'checkpoint.every_steps': 10000,
                  'mesh.shape': '(1,1,1)',
                  'data.dir': str(tmp_path / 'data'),
              }
          ),
      ],
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
      env=driver_testing.subprocess_env(1),
      cwd=tmp_path,
  )
  deadline = time.time() + 120
  while len(metrics_lib.read_metrics(workdir)) < 2:
    assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-4000:]
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0, err[-4000:]
  step = metrics_lib.read_metrics(workdir)[-1]['step']
  assert f'preempted at step {step}' in out
  assert f'preemption signal: saving checkpoint {step}' in out
  assert checkpoint.Checkpointer(workdir / 'checkpoints').all_steps() == [step]
  config = json.loads((workdir / 'config.json').read_text())
  assert config['mesh']['shape'] == [1, 1, 1]  # "(1,1,1)" on the command line is a tuple
  assert config['train']['num_steps'] == 10000


def test_user_errors_are_one_line(tmp_path):
  proc = _cli('train', TINY, f'--workdir={tmp_path}', '--config.model.head_dim=48')
  assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  assert 'error: config.model.head_dim=48: must be a multiple of 32' in proc.stderr
  proc = _cli('train', TINY, f'--workdir={tmp_path}', '--config.model.head_dim=48', '--debug')
  assert proc.returncode != 0 and 'Traceback' in proc.stderr
  proc = _cli('prepare', TINY, '--config.data.source=user', f'--config.data.dir={tmp_path}')
  assert proc.returncode == 2 and "error: data.source='user' needs data.user.root" in proc.stderr
  proc = _cli('sample', TINY, f'--workdir={tmp_path}', '--prompt=x')
  assert proc.returncode != 0 and "sample and eval use the run's own config" in proc.stderr
