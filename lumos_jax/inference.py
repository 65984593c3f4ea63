# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Using a trained run: load its model and tokenizers, sample prompts to files, evaluate adherence.

The `sample` and `eval` commands of `python -m lumos_jax` call `load_run`, `sample_to_files`,
`evaluate_run` and `probe_run`. A run directory is self-contained (lumos_jax/run_dir.py): nothing
here reads the data folder, and only the parameters of a checkpoint are restored.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from typing import Any

import numpy as np
from flax import nnx
from PIL import Image, UnidentifiedImageError

from lumos_jax import checkpoint, official, run_dir, sampling, video_io
from lumos_jax import vocab as vocab_lib
from lumos_jax.config import Config
from lumos_jax.data import pipeline, prepare
from lumos_jax.errors import UserError
from lumos_jax.evaluation import adherence, history_probe
from lumos_jax.model import Decoder, create_model
from lumos_jax.tokenizers import text as text_lib
from lumos_jax.tokenizers.patch_vq import VisualTokenizer


@dataclasses.dataclass
class Run:
  """A trained model with everything needed to prompt it."""

  workdir: pathlib.Path
  config: Config
  model: Decoder
  vocab: vocab_lib.Vocab
  text_tokenizer: text_lib.TextTokenizer
  visual_tokenizer: VisualTokenizer
  step: int


def load_run(workdir: str | pathlib.Path, step: int | None = None) -> Run:
  """The run's config, vocabulary, tokenizers and the parameters of a checkpoint (latest by
  default; params only, on the default device)."""
  workdir = pathlib.Path(workdir)
  if not workdir.is_dir():
    raise UserError(f'--workdir={workdir}: no such directory')
  config = run_dir.read_config(workdir)
  vocab = run_dir.read_vocab(workdir)
  graphdef, abstract = nnx.split(nnx.eval_shape(lambda: create_model(config.model)))
  try:
    params, step = checkpoint.restore_params(workdir / 'checkpoints', abstract, step)
  except FileNotFoundError as e:
    raise UserError(f'{workdir}: {e}; train it first (or give another --workdir)') from e
  return Run(
      workdir,
      config,
      nnx.merge(graphdef, params),
      vocab,
      run_dir.text_tokenizer(workdir, vocab),
      run_dir.visual_tokenizer(workdir, config.data.tokenizer.dtype),
      step,
  )


def open_image(path: str) -> Image.Image:
  """An image file for I2V; a UserError naming it when it cannot be read."""
  try:
    image = Image.open(path)
    image.load()
    return image
  except (OSError, UnidentifiedImageError) as e:
    raise UserError(f'--image={path}: cannot read it as an image ({e})') from e


def image_resolution(run: Run, image: Image.Image) -> tuple[int, int]:
  """(height, width) of an I2V sample without --resolution: for an official-vocabulary run, the
  size of the official crop list that best fits the image's aspect (spec 8.2; the list of the
  run's training resolution, e.g. 672x384 -> target 528); otherwise the training size."""
  height, width = run.config.data.height_width
  targets = {size: target for target, size in official.T2V_RESOLUTIONS.items()}
  if run.vocab == vocab_lib.lumos1() and (width, height) in targets:
    width, height = official.choose_size(
        image.width, image.height, official.crop_sizes(targets[(width, height)])
    )
  return height, width


def _rgb_frames(latent: int, tokenizer: VisualTokenizer) -> int:
  """RGB frames the video header counts for `latent` frames (official: 7 Cosmos latents = 24 RGB
  frames = 2 s at 12 fps; without temporal compression a latent frame is an RGB frame)."""
  c = tokenizer.temporal_compression
  return latent if c == 1 else (latent - 1) * c


def make_request(
    run: Run,
    captions: list[str],
    *,
    frames: int,
    fps: int,
    resolution: tuple[int, int],
    images: list[str | pathlib.Path] | None = None,
) -> tuple[sampling.Request, int]:
  """The sampler request for `captions` (with the run's prompt template) and the fps to play the
  result at; `images` (image-to-video) are the first frames, one per caption.

  Args:
    run: the loaded run.
    captions: one caption per sample.
    frames, fps: latent frames to generate (given one included) and the header fps.
    resolution: (height, width) in pixels (multiples of the tokenizer's patch size).
    images: optional first frames, cropped as the official sampler does (spec 8.2).
  """
  patch = run.visual_tokenizer.spatial_compression
  height, width = resolution
  if min(height, width) < patch or height % patch or width % patch:
    raise UserError(
        f'resolution {width}x{height} (WxH): both sides must be positive multiples of '
        f"the visual tokenizer's {patch} px"
    )
  if frames < (2 if images else 1):
    raise UserError(
        f'frames={frames}: expected at least {2 if images else 1} latent frame(s)'
        + (' (the given image is the first)' if images else '')
    )
  if fps < 1:
    raise UserError(f'fps={fps}: expected a positive frame rate')
  given = None
  if images:
    # The official deterministic centre crop (spec 8.2): BOX halving, BICUBIC scale, centre cut.
    frames_rgb = [official.crop_image(open_image(str(i)), (width, height)) for i in images]
    given = [run.visual_tokenizer.encode(frame[None]) for frame in frames_rgb]
  if frames == 1:  # an image: a 1-frame video at 1 fps for 1 s, as the official T2I (spec 7.8)
    fps = duration = 1
  else:
    duration = max(1, math.ceil(_rgb_frames(frames, run.visual_tokenizer) / fps))
  texts = [
      pipeline.format_prompt(
          run.config.data.prompt_template,
          caption,
          fps=fps,
          duration=duration,
          width=width,
          height=height,
      )
      for caption in captions
  ]
  request = sampling.Request(
      [run.text_tokenizer.encode(text) for text in texts],
      num_frames=frames,
      height=height // patch,
      width=width // patch,
      duration=duration,
      fps=fps,
      given_frames=given,
  )
  return request, fps


def generate_video(
    run: Run,
    prompt: str,
    *,
    frames: int,
    fps: int,
    resolution: tuple[int, int],
    image: str | None = None,
    seed: int = 0,
    progress=None,
    **sampling_overrides: Any,
) -> tuple[np.ndarray, int]:
  """Generates one clip: (uint8 [T, height, width, 3] RGB frames, fps to play them at).

  `frames`, `fps`, `resolution` and `image` as in `make_request`; `progress` is called after
  every generated frame; `sampling_overrides` are SamplingConfig fields (e.g. cfg_scale, steps).
  """
  request, fps = make_request(
      run,
      [prompt],
      frames=frames,
      fps=fps,
      resolution=resolution,
      images=None if image is None else [image],
  )
  sampler = sampling.Sampler(
      run.model, run.vocab, run.config.sample.sampling(frames, **sampling_overrides)
  )
  samples = sampler.generate(request, seed=seed, progress=progress)
  return run.visual_tokenizer.decode(samples.frames[0]), fps


def sample_to_files(
    run: Run, prompt: str, out: str | pathlib.Path, **kwargs: Any
) -> list[pathlib.Path]:
  """Generates one clip (`generate_video`'s arguments) and writes `<out>.mp4`, `<out>.gif` and
  `<out>.png` (contact sheet); out's suffix (if any) is replaced."""
  video, fps = generate_video(run, prompt, **kwargs)
  height, width = video.shape[1:3]
  out = pathlib.Path(out).with_suffix('')
  out.parent.mkdir(parents=True, exist_ok=True)
  paths = [out.with_suffix('.mp4'), out.with_suffix('.gif'), out.with_suffix('.png')]
  scale = max(1, 256 // max(height, width))  # small synthetic frames are upscaled for viewing
  video_io.write_mp4(paths[0], video_io.upscale(video, scale), fps)
  video_io.write_gif(paths[1], video_io.upscale(video, scale), fps)
  video_io.write_png(paths[2], video_io.contact_sheet([video_io.upscale(video, scale)]))
  return paths


def _heldout(run: Run, num: int | None):
  """(the first `num` held-out videos copied into the run (default: sample.eval_prompts), fps,
  duration) for evaluation at the first training (fps, duration) choice."""
  records = run_dir.heldout(run.workdir)
  if not records:
    raise UserError(
        f'{run.workdir} holds no held-out prompts ({run_dir.HELDOUT}): `eval` scores '
        'runs trained on a data set with a held-out split'
    )
  fps, duration = run.config.data.fps_duration[0]
  return records[: num or run.config.sample.eval_prompts], fps, duration


def evaluate_run(
    run: Run,
    out: str | pathlib.Path,
    *,
    num_prompts: int | None = None,
    seed: int | None = None,
    progress=None,
    **sampling_overrides,
) -> dict[str, float]:
  """Prompt adherence on the held-out synthetic prompts; writes clips and samples.jsonl to out."""
  section = run.config.sample
  records, fps, duration = _heldout(run, num_prompts)
  prompts = [adherence.Prompt(r.caption, prepare.attributes_of(r)) for r in records]
  clip = adherence.Clip(
      frames=fps * duration, size=run.config.data.height_width[0], fps=fps, duration=duration
  )
  return adherence.evaluate(
      run.model,
      run.vocab,
      run.text_tokenizer,
      run.visual_tokenizer,
      prompts,
      clip,
      section.sampling(**sampling_overrides),
      out_dir=out,
      batch_size=section.batch_size,
      seed=section.seed if seed is None else seed,
      write_mp4=True,
      progress=progress,
  )


def probe_run(run: Run, num_clips: int | None = None) -> history_probe.ProbeResult:
  """The history probe (evaluation.history_probe) on held-out clips at the first training
  (fps, duration) choice; as many clips as `evaluate_run` scores unless num_clips is given."""
  records, fps, duration = _heldout(run, num_clips)
  items = [
      (
          run.text_tokenizer.encode(r.caption),
          r.codes[
              pipeline.select_frames(r.num_frames, r.fps, fps, duration, run.vocab.rope_strides[0])
          ],
      )
      for r in records
  ]
  return history_probe.history_probe(
      run.model,
      run.vocab,
      items,
      duration=duration,
      fps=fps,
      batch_size=run.config.sample.batch_size,
  )
