# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""A tiny trained run (2 steps of configs/tiny.py, data folder deleted) and the app serving it."""

import shutil
import socket

import pytest

from lumos_jax import testing
from lumos_jax.train import loop


@pytest.fixture(scope='session')
def app_run(tmp_path_factory):
  testing.enable_compilation_cache()
  root = tmp_path_factory.mktemp('app_run')
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
  shutil.rmtree(root / 'data')  # the app reads the run directory only
  return root / 'run'


@pytest.fixture(scope='session')
def app_url(app_run, tmp_path_factory):
  """http://127.0.0.1:PORT/ of the app on `app_run`, served in this process."""
  from lumos_jax.app import ui  # pylint: disable=g-import-not-at-top

  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  page = ui.launch(app_run, port=port, out_dir=tmp_path_factory.mktemp('app_out'), block=False)
  yield f'http://127.0.0.1:{port}/'
  page.close()


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
