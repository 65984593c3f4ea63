# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Shared test setup: CPU only (multi-device tests start their own subprocess, parallel_test);
a tiny trained run directory for the tests that sample, serve or evaluate one; an mp4 reader."""

import os
import shutil

import pytest

os.environ.setdefault('JAX_PLATFORMS', 'cpu')


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory):
  """A run directory of configs/tiny.py trained 2 steps, its data folder deleted (a run
  directory is self-contained). Tests may write next to it but must not change it."""
  from lumos_jax import testing  # pylint: disable=g-import-not-at-top
  from lumos_jax.train import loop  # pylint: disable=g-import-not-at-top

  testing.enable_compilation_cache()
  root = tmp_path_factory.mktemp('trained_run')
  config = testing.load_config(
      'tiny',
      **{
          'data.dir': str(root / 'data'),
          'train.num_steps': 2,
          'train.eval_every': 0,
          'checkpoint.every_steps': 2,
          'train.progress_bar': False,
      },
  )
  loop.run(config, root / 'run')
  shutil.rmtree(root / 'data')
  return root / 'run'


@pytest.fixture(scope='session')
def read_mp4():
  """A reader of mp4 files: uint8 [T, H, W, 3] (imageio-ffmpeg's own ffmpeg binary)."""
  import imageio_ffmpeg  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  def read(path):
    reader = imageio_ffmpeg.read_frames(str(path))
    width, height = next(reader)['size']
    return np.stack([np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader])

  return read
