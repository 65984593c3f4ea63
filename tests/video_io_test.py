# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
import numpy as np
import pytest
from PIL import Image

from lumos_jax import video_io
from lumos_jax.data import synthetic


def _clip():
  return synthetic.generate(1, seed=0, frames=4, size=32, fps=4)[0].video


def test_gif_round_trip(tmp_path):
  clip = _clip()
  video_io.write_gif(tmp_path / 'a.gif', clip, fps=4)
  with Image.open(tmp_path / 'a.gif') as im:
    frames = []
    for i in range(im.n_frames):
      im.seek(i)
      frames.append(np.asarray(im.convert('RGB')))
  assert len(frames) == 4
  np.testing.assert_array_equal(np.stack(frames), clip)  # few colours: GIF is lossless here


def test_mp4_is_readable(tmp_path):
  import imageio_ffmpeg

  clip = video_io.upscale(_clip(), 2)
  video_io.write_mp4(tmp_path / 'a.mp4', clip, fps=4)
  reader = imageio_ffmpeg.read_frames(str(tmp_path / 'a.mp4'))
  meta = next(reader)
  frames = [np.frombuffer(f, np.uint8).reshape(64, 64, 3) for f in reader]
  assert meta['size'] == (64, 64) and len(frames) == 4
  assert np.abs(np.stack(frames).astype(int) - clip).mean() < 8  # lossy but close


def test_contact_sheet_layout():
  clip = _clip()
  sheet = video_io.contact_sheet([clip, clip[:2]], gap=2)
  assert sheet.shape == (2 * 32 + 2, 4 * 32 + 3 * 2, 3)
  np.testing.assert_array_equal(sheet[:32, 34:66], clip[1])
  assert (sheet[34:, 68:] == 255).all()  # the short clip leaves white space
  with pytest.raises(ValueError, match='uint8'):
    video_io.contact_sheet([clip.astype(np.float32)])
