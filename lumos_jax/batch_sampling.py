# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`sample --prompts=FILE`: many samples, batched, split over devices, parts and processes,
resumable.

The jobs of a prompt file (lumos_jax/evaluation/prompt_sets.py) are dealt out round-robin: part
i of n (`--part=i/n`, 0-based) takes jobs i, i + n, i + 2n, ...; within a part, process p of a
multi-process run takes every P-th of those. A process samples `batch` jobs per forward pass
(conditional and unconditional rows together), split over its local devices (the sampler's mesh).
A job whose output file exists is skipped, so a killed run is resumed by running it again; files
are written under DIR/.partial and renamed into place, so an output file is always complete.
Every job has its own seed, so what a file holds does not depend on any of the above.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any, Callable

import jax
import numpy as np

from lumos_jax import inference, parallel, sampling, video_io
from lumos_jax.errors import UserError
from lumos_jax.evaluation import prompt_sets

_PARTIAL = '.partial'


def parse_part(text: str) -> tuple[int, int]:
  """'i/n' (0-based part i of n) -> (i, n)."""
  try:
    i, n = (int(x) for x in text.split('/'))
  except ValueError:
    raise UserError(f'--part={text!r}: expected i/n, e.g. 0/4 (0-based)') from None
  if not 0 <= i < n:
    raise UserError(f'--part={text}: expected 0 <= i < n (parts are 0-based: 0/{n}..{n - 1}/{n})')
  return i, n


def share(
    jobs: list[prompt_sets.Job], part: tuple[int, int], process: tuple[int, int]
) -> list[prompt_sets.Job]:
  """The jobs of `part` (i, n) that process (p, P) makes: every n-th from i, then every P-th."""
  (i, n), (p, num_processes) = part, process
  return jobs[i::n][p::num_processes]


@dataclasses.dataclass(frozen=True)
class Summary:
  written: int  # files made by this call
  skipped: int  # files of this share that already existed
  share: int  # jobs of this process's share


def local_mesh() -> jax.sharding.Mesh | None:
  """A data-parallel mesh over this process's devices, or None for a single device."""
  devices = jax.local_devices()
  return None if len(devices) == 1 else parallel.make_mesh((-1, 1, 1), devices=devices)


def sample_prompt_set(
    run: inference.Run,
    prompt_set: prompt_sets.PromptSet,
    out: str | pathlib.Path,
    *,
    frames: int,
    fps: int,
    resolution: Callable[[prompt_sets.Job], tuple[int, int]],
    batch: int = 1,
    part: tuple[int, int] = (0, 1),
    mesh: jax.sharding.Mesh | None = None,
    progress: Callable[[int], Any] | None = None,
    **sampling_overrides: Any,
) -> Summary:
  """Samples this process's share of `prompt_set` into its files.

  Args:
    run: the loaded run.
    prompt_set: the jobs and layout files (`prompt_sets.read`).
    out: the output folder (its .partial subfolder holds files being written).
    frames, fps: latent frames per sample (a given image included) and the header fps.
    resolution: (height, width) in pixels of a job (I2V: from its image).
    batch: jobs per forward pass; a multiple of the mesh's batch-axis size.
    part: (i, n), this run's 0-based part of the jobs.
    mesh: devices to split each batch over (`local_mesh()`); None: the default device.
    progress: called with the number of jobs finished (written or skipped) after each batch.
    **sampling_overrides: SamplingConfig fields (cfg_scale, steps, ...).
  """
  sampler = sampling.Sampler(
      run.model, run.vocab, run.config.sample.sampling(frames, **sampling_overrides), mesh=mesh
  )
  if batch < 1 or batch % sampler.groups:
    raise UserError(
        f'--batch={batch}: expected a positive multiple of the {sampler.groups} local devices'
    )
  out = pathlib.Path(out)
  for path, text in prompt_set.files.items():
    _write_text(path, text, out / _PARTIAL)
  mine = share(prompt_set.jobs, part, (jax.process_index(), jax.process_count()))
  todo = [job for job in mine if not job.out.exists()]
  if progress is not None and len(mine) > len(todo):
    progress(len(mine) - len(todo))
  by_shape: dict[tuple[int, int], list[prompt_sets.Job]] = {}
  for job in todo:
    by_shape.setdefault(resolution(job), []).append(job)
  for size, jobs in by_shape.items():
    for start in range(0, len(jobs), batch):
      chunk = jobs[start : start + batch]
      padded = chunk + [chunk[-1]] * (batch - len(chunk))  # one compiled shape per size
      request, play_fps = inference.make_request(
          run,
          [job.caption for job in padded],
          frames=frames,
          fps=fps,
          resolution=size,
          images=[job.image for job in padded] if padded[0].image is not None else None,
      )
      samples = sampler.generate(request, seed=[job.seed for job in padded])
      for job, codes in zip(chunk, samples.frames):
        _write_sample(job.out, run.visual_tokenizer.decode(codes), play_fps, out / _PARTIAL)
      if progress is not None:
        progress(len(chunk))
  _remove_if_empty(out / _PARTIAL)
  return Summary(written=len(todo), skipped=len(mine) - len(todo), share=len(mine))


def _staging(final: pathlib.Path, partial: pathlib.Path) -> pathlib.Path:
  """A private temporary name (per process) with the final suffix, in the staging folder."""
  partial.mkdir(parents=True, exist_ok=True)
  return partial / f'{jax.process_index()}-{os.getpid()}{final.suffix}'


def _write_sample(path: pathlib.Path, video: np.ndarray, fps: int, partial: pathlib.Path) -> None:
  """An mp4 (at `fps`) or, for a .png path, the first frame; atomically."""
  tmp = _staging(path, partial)
  if path.suffix == '.png':
    video_io.write_png(tmp, video[0])
  else:
    video_io.write_mp4(tmp, video, fps)
  path.parent.mkdir(parents=True, exist_ok=True)
  os.replace(tmp, path)


def _write_text(path: pathlib.Path, text: str, partial: pathlib.Path) -> None:
  if path.exists() and path.read_text(encoding='utf-8') == text:
    return
  tmp = _staging(path, partial)
  tmp.write_text(text, encoding='utf-8')
  path.parent.mkdir(parents=True, exist_ok=True)
  os.replace(tmp, path)


def _remove_if_empty(folder: pathlib.Path) -> None:
  try:
    folder.rmdir()
  except OSError:  # absent, or another process is still writing there
    pass
