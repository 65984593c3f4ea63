# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Prompt adherence: generate held-out prompts, decode, read attributes back from the pixels.

Writes, per sample, the generated clip (GIF, and mp4 when asked) and the ground-truth rendering of
the same attributes, a `samples.jsonl` index (paths relative to it), a PNG contact sheet, and
returns the accuracy per attribute and overall.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Callable, Sequence


from lumos_jax import sampling, video_io
from lumos_jax.data import synthetic
from lumos_jax.evaluation import analyzer
from lumos_jax.model import Decoder
from lumos_jax.tokenizers.patch_vq import VisualTokenizer
from lumos_jax.tokenizers.text import TextTokenizer
from lumos_jax.vocab import Vocab


@dataclasses.dataclass(frozen=True)
class Prompt:
  caption: str
  attributes: synthetic.Attributes


@dataclasses.dataclass(frozen=True)
class Clip:
  """Geometry of the generated clips (pixels / frames) and the header values."""

  frames: int
  size: int
  fps: int
  duration: int


def evaluate(
    model: Decoder,
    vocab: Vocab,
    text_tokenizer: TextTokenizer,
    visual_tokenizer: VisualTokenizer,
    prompts: Sequence[Prompt],
    clip: Clip,
    sampling_config: sampling.SamplingConfig,
    *,
    out_dir: str | pathlib.Path | None = None,
    batch_size: int = 8,
    seed: int = 0,
    write_mp4: bool = False,
    scale: int = 2,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
  """Samples every prompt, scores adherence and (with out_dir) writes the clips and index."""
  patch = visual_tokenizer.spatial_compression
  if clip.size % patch:
    raise ValueError(f'clip size {clip.size} is not a multiple of the patch size {patch}')
  latent = clip.size // patch
  sampler = sampling.Sampler(model, vocab, sampling_config)
  out = None if out_dir is None else pathlib.Path(out_dir)
  if out is not None:
    out.mkdir(parents=True, exist_ok=True)
  videos, records = [], []
  for start in range(0, len(prompts), batch_size):
    batch = prompts[start : start + batch_size]
    request = sampling.Request(
        [text_tokenizer.encode(p.caption) for p in batch],
        num_frames=clip.frames,
        height=latent,
        width=latent,
        duration=clip.duration,
        fps=clip.fps,
    )
    samples = sampler.generate(request, seed=seed + start)
    for i, (prompt, codes) in enumerate(zip(batch, samples.frames)):
      video = visual_tokenizer.decode(codes)
      videos.append(video)
      if out is None:
        continue
      name = f'{start + i:04d}'
      reference = synthetic.render(prompt.attributes, clip.frames, clip.size, clip.fps)
      video_io.write_gif(out / f'{name}.gif', video_io.upscale(video, scale), clip.fps)
      video_io.write_gif(out / f'{name}_ref.gif', video_io.upscale(reference, scale), clip.fps)
      if write_mp4:
        video_io.write_mp4(out / f'{name}.mp4', video_io.upscale(video, scale), clip.fps)
      reading = analyzer.read(video)
      records.append(
          dict(
              prompt=prompt.caption,
              attributes=dataclasses.asdict(prompt.attributes),
              video=f'{name}.mp4' if write_mp4 else f'{name}.gif',
              gif=f'{name}.gif',
              reference=f'{name}_ref.gif',
              reading=dataclasses.asdict(reading),
          )
      )
    if progress is not None:
      progress(len(batch))
  scores = analyzer.score(videos, [p.attributes for p in prompts])
  if out is not None:
    with open(out / 'samples.jsonl', 'w') as f:
      for record in records:
        f.write(json.dumps(record) + '\n')
    sheet = video_io.contact_sheet([video_io.upscale(v, scale) for v in videos[:16]])
    video_io.write_png(out / 'contact_sheet.png', sheet)
    (out / 'adherence.json').write_text(json.dumps(scores, indent=2) + '\n')
  return scores


def format_table(scores: dict[str, float], chance: bool = True) -> str:
  """A small Markdown table of accuracies (with chance levels for the synthetic attributes)."""
  levels = {
      'colour': 1 / len(synthetic.COLOURS),
      'shape': 1 / len(synthetic.SHAPES),
      'direction': 1 / len(synthetic.DIRECTIONS),
  }
  lines = [
      '| attribute | accuracy |' + (' chance |' if chance else ''),
      '|---|---|' + ('---|' if chance else ''),
  ]
  for name, value in scores.items():
    row = f'| {name} | {value:.3f} |'
    if chance:
      row += f' {levels[name]:.3f} |' if name in levels else ' |'
    lines.append(row)
  return '\n'.join(lines)
