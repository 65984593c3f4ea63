# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The running app driven through its API with gradio_client: a text-to-video request returns an
mp4 of the requested frames and size, a bad request returns an error and the server keeps
serving, results accumulate in the session's gallery; the command's errors are one line."""

import subprocess
import sys

import gradio_client
import numpy as np
import pytest
from gradio_client import exceptions
from PIL import Image

from lumos_jax import testing


def _request(**overrides):
  args = dict(
      mode='text-to-video',
      prompt='a blue square moving right',
      seed=5,
      randomize=False,
      cfg_scale=3.0,
      steps=2,
      history_mask_ratio=0.7,
      temperature_mode='official',
      frames=2,
      fps=4,
      resolution='32x32',
      image=None,
  )
  return {**args, **overrides, 'api_name': '/generate'}


def test_generate_then_bad_request_then_generate(app_url, read_mp4, tmp_path):
  client = gradio_client.Client(app_url, verbose=False)
  assert list(client.view_api(return_format='dict')['named_endpoints']) == ['/generate']
  video, image, gallery, table, seed = client.predict(**_request(frames=3))
  assert not image['visible'] and video['visible']
  assert read_mp4(video['value']).shape == (3, 32, 32, 3)
  assert seed == 5 and len(gallery) == 1 and '3 frames at 4 fps' in gallery[0]['caption']
  assert '| 1 |' in table

  with pytest.raises(exceptions.AppError, match='prompt: empty'):
    client.predict(**_request(prompt=''))
  with pytest.raises(exceptions.AppError, match='prompt: empty'):
    client.predict(**_request(prompt='   '))
  # The page offers only the run's sizes: another one is refused before it reaches the service.
  with pytest.raises(
      exceptions.AppError, match="48x32 is not in the list of choices: \\['32x32'\\]"
  ):
    client.predict(**_request(resolution='48x32'))
  thin, text = tmp_path / 'thin.png', tmp_path / 'text.png'
  Image.fromarray(np.zeros((4, 64, 3), np.uint8)).save(thin)
  text.write_text('not an image')
  with pytest.raises(exceptions.AppError, match='image thin.png: 64x4 px; expected sides of'):
    client.predict(**_request(mode='image-to-video', image=gradio_client.handle_file(thin)))
  with pytest.raises(exceptions.AppError):  # refused while Gradio reads the upload
    client.predict(**_request(mode='image-to-video', image=gradio_client.handle_file(text)))

  video, _, gallery, _, seed = client.predict(**_request(frames=3, randomize=True))
  assert read_mp4(video['value']).shape == (3, 32, 32, 3)
  assert 0 <= seed < 2**31 and len(gallery) == 2  # the session's results, newest first
  assert gallery[0]['caption'].startswith('"a blue square moving right": text-to-video, seed ')
  assert '3 frames at 4 fps' in gallery[0]['caption']


def test_app_command_errors_are_one_line(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'lumos_jax', 'app', f'--workdir={tmp_path / "missing"}'],
      capture_output=True,
      text=True,
      timeout=300,
      env=testing.subprocess_env(1),
      cwd=testing.REPO,
  )
  assert proc.returncode == 2
  assert proc.stderr.strip() == f'error: --workdir={tmp_path / "missing"}: no such directory'
