# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Writing generated clips: mp4 (H.264 via imageio-ffmpeg), animated GIF and PNG contact sheets."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from PIL import Image


def _check_video(video: np.ndarray) -> np.ndarray:
  video = np.asarray(video)
  if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
    raise ValueError(f'expected a uint8 [T, H, W, 3] video, got {video.dtype} {video.shape}')
  return video


def upscale(video: np.ndarray, factor: int) -> np.ndarray:
  """Nearest-neighbour upscaling of [..., H, W, 3] (small synthetic clips are hard to see)."""
  return video.repeat(factor, axis=-3).repeat(factor, axis=-2) if factor > 1 else video


def write_gif(path: str | os.PathLike, video: np.ndarray, fps: float) -> None:
  """Looping animated GIF."""
  frames = [Image.fromarray(f) for f in _check_video(video)]
  frames[0].save(
      path,
      save_all=True,
      append_images=frames[1:],
      loop=0,
      duration=max(20, round(1000 / fps)),
      disposal=2,
  )


def write_mp4(path: str | os.PathLike, video: np.ndarray, fps: float) -> None:
  """H.264 mp4 (yuv420p, so sides are padded to even sizes by repetition)."""
  import imageio_ffmpeg  # pylint: disable=g-import-not-at-top  (ships its own ffmpeg binary)

  video = _check_video(video)
  pad_h, pad_w = video.shape[1] % 2, video.shape[2] % 2
  if pad_h or pad_w:
    video = np.pad(video, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode='edge')
  writer = imageio_ffmpeg.write_frames(
      str(path),
      (video.shape[2], video.shape[1]),
      fps=fps,
      codec='libx264',
      pix_fmt_out='yuv420p',
      output_params=['-crf', '17'],
      macro_block_size=1,
  )
  writer.send(None)
  for frame in video:
    writer.send(np.ascontiguousarray(frame))
  writer.close()


def contact_sheet(videos: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
  """uint8 [rows * H + gaps, max_T * W + gaps, 3]: one row per clip, frames left to right."""
  videos = [_check_video(v) for v in videos]
  h, w = videos[0].shape[1:3]
  cols = max(len(v) for v in videos)
  sheet = np.full((len(videos) * (h + gap) - gap, cols * (w + gap) - gap, 3), 255, np.uint8)
  for r, video in enumerate(videos):
    if video.shape[1:3] != (h, w):
      raise ValueError(f'clip {r} is {video.shape[1:3]}, expected {(h, w)} like the first')
    for c, frame in enumerate(video):
      sheet[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = frame
  return sheet


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
  Image.fromarray(np.asarray(image, np.uint8)).save(path)
