# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The web app's generation service, independent of the page: what a run offers, request checks,
one generation at a time, results written as files.

The model is loaded once (`Service(workdir)`); the sampler's programs are jitted per shape,
history ratio and temperature mode and kept by jax (guidance scale and step count are data of the
program), so a repeated request or a new guidance does not compile again. Requests are
served one at a time (a lock; the page's queue also admits one), since they share the device.
Every check of a request raises a `UserError` naming the field and what the run accepts.
"""

from __future__ import annotations

import dataclasses
import pathlib
import threading
import time
from typing import Callable

from PIL import Image, UnidentifiedImageError

from lumos_jax import inference, layout, official, run_dir, sampling, video_io
from lumos_jax import vocab as vocab_lib
from lumos_jax.errors import UserError

MODES = ('text-to-image', 'text-to-video', 'image-to-video')
MAX_EXAMPLES = 8  # held-out prompts offered as examples


@dataclasses.dataclass(frozen=True)
class Settings:
  """One request, as the page sends it.

  frames are latent frames (the given image included for image-to-video; ignored for
  text-to-image); resolution is 'WxH' in pixels; image is a file path (image-to-video only).
  """

  mode: str
  prompt: str
  seed: int
  cfg_scale: float
  steps: int
  history_mask_ratio: float
  temperature_mode: str
  frames: int
  fps: int
  resolution: str
  image: str | None = None

  def describe(self) -> str:
    """One line with every setting that made a result."""
    parts = [self.mode, f'seed {self.seed}', f'guidance {self.cfg_scale:g}']
    parts += [f'{self.steps} steps', f'temperature {self.temperature_mode}']
    if self.mode != 'text-to-image':
      parts += [
          f'{self.frames} frames at {self.fps} fps',
          f'history mask {self.history_mask_ratio:g}',
      ]
    return f'"{self.prompt}": ' + ', '.join(parts + [self.resolution])


@dataclasses.dataclass(frozen=True)
class Result:
  path: pathlib.Path  # .mp4 (videos) or .png (text-to-image)
  settings: Settings
  num_frames: int  # RGB frames in the file
  seconds: float  # generation time, compilation included


@dataclasses.dataclass(frozen=True)
class Offer:
  """What the run supports, for the page's controls and defaults.

  resolutions: 'WxH' choices (the training size; for an official-vocabulary run, the official
  crop list of its training size); max_frames: the most latent frames the run was trained on;
  fps: the frame rates it was trained at; temporal_compression: RGB frames per latent frame.
  """

  resolutions: tuple[str, ...]
  default_resolution: str
  max_frames: int
  fps: tuple[int, ...]
  temporal_compression: int
  steps: int
  cfg_scale: float
  image_cfg_scale: float
  history_mask_ratio: float
  temperature_mode: str
  examples: tuple[str, ...]


def _offer(run: inference.Run) -> Offer:
  data, sample = run.config.data, run.config.sample
  height, width = data.height_width
  default = f'{width}x{height}'
  sizes = [(width, height)]
  targets = {size: target for target, size in official.T2V_RESOLUTIONS.items()}
  if run.vocab == vocab_lib.lumos1() and (width, height) in targets:
    sizes = official.crop_sizes(targets[(width, height)])
  stride = run.vocab.rope_strides[0]
  captions = dict.fromkeys(r.caption for r in run_dir.heldout(run.workdir))  # unique, in order
  return Offer(
      resolutions=tuple(f'{w}x{h}' for w, h in sizes),
      default_resolution=default,
      max_frames=max(layout.latent_frames(f * d, stride) for f, d in data.fps_duration),
      fps=tuple(sorted({f for f, _ in data.fps_duration})),
      temporal_compression=run.visual_tokenizer.temporal_compression,
      steps=sample.steps,
      cfg_scale=sample.cfg_scale,
      image_cfg_scale=sample.image_cfg_scale,
      history_mask_ratio=sample.history_mask_ratio,
      temperature_mode=sample.temperature_mode,
      examples=tuple(list(captions)[:MAX_EXAMPLES]),
  )


class Service:
  """A loaded run that turns `Settings` into result files under `out_dir`."""

  def __init__(self, workdir: str | pathlib.Path, out_dir: str | pathlib.Path | None = None):
    self.run = inference.load_run(workdir)
    self.offer = _offer(self.run)
    self.out_dir = pathlib.Path(out_dir or pathlib.Path(workdir) / 'samples' / 'app')
    self.out_dir.mkdir(parents=True, exist_ok=True)
    self._lock = threading.Lock()
    self._count = len(list(self.out_dir.glob('*.*')))  # results keep distinct names over restarts

  def check(self, s: Settings) -> tuple[int, int]:
    """Raises a UserError for a request the run cannot serve; returns its (height, width)."""
    o = self.offer
    if s.mode not in MODES:
      raise UserError(f'mode {s.mode!r}: expected one of {", ".join(MODES)}')
    if not s.prompt.strip():
      raise UserError('prompt: empty; describe the video to generate')
    if s.resolution not in o.resolutions:
      shown = ', '.join(o.resolutions[:6]) + (', ...' if len(o.resolutions) > 6 else '')
      raise UserError(f'resolution {s.resolution}: this run generates {shown}')
    if s.steps < 1:
      raise UserError(f'MaskGIT steps={s.steps}: expected at least 1')
    if s.cfg_scale < 0:
      raise UserError(f'guidance scale={s.cfg_scale:g}: expected >= 0')
    if not 0 < s.history_mask_ratio <= 1:
      raise UserError(f'history mask ratio={s.history_mask_ratio:g}: expected a value in (0, 1]')
    if s.temperature_mode not in sampling.TEMPERATURE_MODES:
      raise UserError(
          f'temperature mode {s.temperature_mode!r}: expected one of '
          f'{", ".join(sampling.TEMPERATURE_MODES)}'
      )
    if s.mode != 'text-to-image':
      least = 2
      if not least <= s.frames <= o.max_frames:
        raise UserError(
            f'frames={s.frames}: this run generates {least} to {o.max_frames} latent frames'
        )
      if s.fps not in o.fps:
        raise UserError(f'fps={s.fps}: this run was trained at {", ".join(map(str, o.fps))} fps')
    if s.mode == 'image-to-video':
      self._check_image(s.image)
    width, height = (int(x) for x in s.resolution.split('x'))
    return height, width

  def _check_image(self, path: str | None) -> None:
    if not path:
      raise UserError('image: image-to-video needs a first frame; upload an image')
    name = pathlib.Path(path).name
    try:
      with Image.open(path) as image:
        image.load()
        size = image.size
    except (OSError, UnidentifiedImageError) as e:
      raise UserError(f'image {name}: cannot read it as an image ({e})') from e
    patch = self.run.visual_tokenizer.spatial_compression
    ratio = max(size) / max(1, min(size))
    if min(size) < patch or ratio > official.MAX_RATIO:
      raise UserError(
          f'image {name}: {size[0]}x{size[1]} px; expected sides of at least {patch} px and an '
          f'aspect ratio of at most {official.MAX_RATIO:g}:1'
      )

  def generate(
      self, s: Settings, progress: Callable[[int, int, int], None] | None = None
  ) -> Result:
    """Generates one result; progress(done, total, frame) after every MaskGIT step, where done
    and total count steps over the frames to generate."""
    height, width = self.check(s)
    frames = 1 if s.mode == 'text-to-image' else s.frames
    generated = frames - (1 if s.mode == 'image-to-video' else 0)
    total = generated * s.steps
    first = frames - generated

    def on_step(frame: int, step: int) -> None:
      if progress is not None:
        progress((frame - first) * s.steps + step + 1, total, frame)

    with self._lock:
      start = time.perf_counter()
      with sampling.step_listener(on_step):
        video, fps = inference.generate_video(
            self.run,
            s.prompt.strip(),
            frames=frames,
            fps=s.fps,
            resolution=(height, width),
            image=s.image if s.mode == 'image-to-video' else None,
            seed=s.seed,
            cfg_scale=s.cfg_scale,
            steps=s.steps,
            history_mask_ratio=s.history_mask_ratio,
            temperature_mode=s.temperature_mode,
            report_steps=True,
        )
      self._count += 1
      stem = self.out_dir / f'{self._count:04d}-{s.mode}-seed{s.seed}'
      if s.mode == 'text-to-image':
        path = stem.with_suffix('.png')
        video_io.write_png(path, video[0])
      else:
        path = stem.with_suffix('.mp4')
        video_io.write_mp4(path, video, fps)
      return Result(path, s, len(video), time.perf_counter() - start)
