# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Using a trained run: load its model and tokenizers, sample prompts to files, evaluate adherence.

The `sample` and `eval` commands of `python -m lumos_jax` call `sample_to_files`, `evaluate_run`
and `probe_run`; they read the run's own `config.json` unless a config is given.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Any

import jax.numpy as jnp
import ml_collections as mlc
import numpy as np
from flax import nnx
from PIL import Image

from lumos_jax import checkpoint, sampling, video_io
from lumos_jax import vocab as vocab_lib
from lumos_jax.data import pipeline, prepare
from lumos_jax.evaluation import adherence, history_probe
from lumos_jax.model import Decoder, create_model
from lumos_jax.model import config as model_config_lib
from lumos_jax.tokenizers import text as text_lib
from lumos_jax.tokenizers.patch_vq import VisualTokenizer


@dataclasses.dataclass
class Run:
  """A trained model with everything needed to prompt it."""

  config: mlc.ConfigDict
  model: Decoder
  vocab: vocab_lib.Vocab
  text_tokenizer: text_lib.TextTokenizer
  visual_tokenizer: VisualTokenizer
  step: int


def run_config(workdir: str | pathlib.Path) -> mlc.ConfigDict:
  """The config a run was trained with (`<workdir>/config.json`)."""
  path = pathlib.Path(workdir) / 'config.json'
  if not path.exists():
    raise FileNotFoundError(f'{path} not found: is {workdir} a training workdir?')
  return mlc.ConfigDict(json.loads(path.read_text()))


def load_run(workdir: str | pathlib.Path, config: Any = None, step: int | None = None) -> Run:
  """Loads the parameters of a checkpoint (latest by default) into a fresh decoder."""
  config = run_config(workdir) if config is None else config
  vocab = vocab_lib.from_config(config.vocab)
  model_config = model_config_lib.from_config(config.model, vocab.size)
  arrays = checkpoint.load_state_arrays(pathlib.Path(workdir) / 'checkpoints', step)
  graphdef, state = nnx.split(nnx.eval_shape(lambda: create_model(model_config)))
  flat = []
  for path, variable in nnx.to_flat_state(state):
    key = '/'.join(['params', *map(str, path), 'value'])
    if key not in arrays:
      raise KeyError(f'checkpoint of {workdir} has no {key}: trained with another model config?')
    flat.append((path, variable.replace(jnp.asarray(arrays[key]))))
  model = nnx.merge(graphdef, nnx.from_flat_state(flat))
  tokenizer_path = str(config.data.get('text_tokenizer', '') or '') or None
  return Run(config, model, vocab, text_lib.for_vocab(vocab, tokenizer_path),
             prepare.load_tokenizer(config), int(arrays['step']))


def sampling_config(config: Any, **overrides: Any) -> sampling.SamplingConfig:
  """SamplingConfig from the config's `sample` section (its sampler fields) and overrides."""
  fields = {f.name for f in dataclasses.fields(sampling.SamplingConfig)}
  section = {k: v for k, v in dict(config.get('sample', {})).items() if k in fields}
  section.update({k: v for k, v in overrides.items() if v is not None})
  return sampling.SamplingConfig(**section)


def _first_frame(path: str, size: tuple[int, int]) -> np.ndarray:
  """An image centre-cropped to the aspect of `size` (H, W) and resized to it: uint8 [H, W, 3]."""
  image = Image.open(path).convert('RGB')
  h, w = size
  scale = max(w / image.width, h / image.height)
  image = image.resize((max(w, round(image.width * scale)), max(h, round(image.height * scale))),
                       Image.BICUBIC)
  left, top = (image.width - w) // 2, (image.height - h) // 2
  return np.asarray(image.crop((left, top, left + w, top + h)))


def sample_to_files(
    run: Run,
    prompt: str,
    out: str | pathlib.Path,
    *,
    frames: int,
    fps: int,
    resolution: tuple[int, int],
    image: str | None = None,
    seed: int = 0,
    progress=None,
    **sampling_overrides: Any,
) -> list[pathlib.Path]:
  """Generates one clip and writes `<out>.mp4`, `<out>.gif` and `<out>.png` (contact sheet).

  Args:
    run: the loaded run.
    prompt: the caption.
    out: output path; its suffix (if any) is replaced.
    frames, fps: latent frames to generate (given one included) and the header fps.
    resolution: (height, width) in pixels (multiples of the tokenizer's patch size).
    image: optional first frame (image-to-video).
    seed: sampling seed.
    progress: called after every generated frame.
    **sampling_overrides: SamplingConfig fields (e.g. cfg_scale, steps).
  """
  patch = run.visual_tokenizer.spatial_compression
  height, width = resolution
  if height % patch or width % patch:
    raise ValueError(f'resolution {height}x{width} must be a multiple of the patch size {patch}')
  given = None
  if image is not None:
    given = [run.visual_tokenizer.encode(_first_frame(image, (height, width))[None])]
  request = sampling.Request(
      [run.text_tokenizer.encode(prompt)], num_frames=frames, height=height // patch,
      width=width // patch, duration=max(1, math.ceil(frames / fps)), fps=fps,
      given_frames=given)
  sampler = sampling.Sampler(run.model, run.vocab, sampling_config(run.config,
                                                                   **sampling_overrides))
  samples = sampler.generate(request, seed=seed, progress=progress)
  video = run.visual_tokenizer.decode(samples.frames[0])
  out = pathlib.Path(out).with_suffix('')
  out.parent.mkdir(parents=True, exist_ok=True)
  paths = [out.with_suffix('.mp4'), out.with_suffix('.gif'), out.with_suffix('.png')]
  scale = max(1, 256 // max(height, width))  # small synthetic frames are upscaled for viewing
  video_io.write_mp4(paths[0], video_io.upscale(video, scale), fps)
  video_io.write_gif(paths[1], video_io.upscale(video, scale), fps)
  video_io.write_png(paths[2], video_io.contact_sheet([video_io.upscale(video, scale)]))
  return paths


def _heldout(run: Run, num: int | None):
  """(sample section, the first `num` held-out video records (default: sample.eval_prompts),
  fps, duration) for evaluation at the first training (fps, duration) choice."""
  section = run.config.get('sample', mlc.ConfigDict())
  records = prepare.heldout_items(run.config, kind='video')
  records = records[: num or int(section.get('eval_prompts', len(records)))]
  fps, duration = (int(x) for x in run.config.data.fps_duration[0])
  return section, records, fps, duration


def evaluate_run(run: Run, out: str | pathlib.Path, *, num_prompts: int | None = None,
                 seed: int | None = None, progress=None, **sampling_overrides) -> dict[str, float]:
  """Prompt adherence on the held-out synthetic prompts; writes clips and samples.jsonl to out."""
  config = run.config
  section, records, fps, duration = _heldout(run, num_prompts)
  prompts = [adherence.Prompt(r.caption, prepare.attributes_of(r)) for r in records]
  clip = adherence.Clip(frames=fps * duration, size=int(config.data.size), fps=fps,
                        duration=duration)
  return adherence.evaluate(
      run.model, run.vocab, run.text_tokenizer, run.visual_tokenizer, prompts, clip,
      sampling_config(config, **sampling_overrides), out_dir=out,
      batch_size=int(section.get('batch_size', 8)),
      seed=int(section.get('seed', 0)) if seed is None else seed, write_mp4=True,
      progress=progress)


def probe_run(run: Run, num_clips: int | None = None) -> history_probe.ProbeResult:
  """The history probe (evaluation.history_probe) on held-out clips at the first training
  (fps, duration) choice; as many clips as `evaluate_run` scores unless num_clips is given."""
  section, records, fps, duration = _heldout(run, num_clips)
  items = [(run.text_tokenizer.encode(r.caption),
            r.codes[pipeline.select_frames(r.num_frames, r.fps, fps, duration)]) for r in records]
  return history_probe.history_probe(run.model, run.vocab, items, duration=duration, fps=fps,
                                     batch_size=int(section.get('batch_size', 8)))
