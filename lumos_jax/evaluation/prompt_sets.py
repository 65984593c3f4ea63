# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Prompt files -> sampling jobs, in the folder layouts that evaluation tools read.

`sample --prompts=FILE --layout=NAME --out=DIR` (lumos_jax/batch_sampling.py) samples every job
of `read(...)` to its own file. The layouts (spec 7.1; the prompt fields are the official ones):

  lines       a text file, one caption per line -> DIR/<line:05d>-<n>.{mp4,png};
              DIR/prompts.jsonl maps files to captions.
  geneval     GenEval's `evaluation_metadata.jsonl` (one JSON object per line; caption field
              `prompt_rewrite_qwen32b` as the official script, `--prompt_field=prompt` for the
              plain file) -> DIR/<line:05d>/metadata.jsonl (the line as given) and
              DIR/<line:05d>/samples/<n:04d>.png, 4 images per prompt: the folder GenEval's
              evaluate_images.py reads.
  vbench_t2v  a JSON object {video name: caption} (the official
              vbench_t2v_all_dimension_longer.json) -> DIR/<video name>-<n>.mp4, 5 per prompt:
              the names VBench looks up.
  vbench_i2v  a JSON list of records with `prompt_en` (the video name), `image_name` (read from
              --image_dir) and the caption `prompt_en_qwen32b_vl` (the official
              vbench2_i2v_full_info_qwen32b_vl.json) -> DIR/<prompt_en>-<n>.mp4, 5 per prompt.

Sample n of prompt p uses seed `seed + p * samples_per_prompt + n`: a file's content depends on
its prompt and seed only, not on --part, --batch, the devices or what was already done.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Callable

from lumos_jax.errors import UserError

LAYOUTS = ('lines', 'geneval', 'vbench_t2v', 'vbench_i2v')
SAMPLES_PER_PROMPT = {'lines': 1, 'geneval': 4, 'vbench_t2v': 5, 'vbench_i2v': 5}
PROMPT_FIELD = {'geneval': 'prompt_rewrite_qwen32b', 'vbench_i2v': 'prompt_en_qwen32b_vl'}
IMAGE_ONLY = ('geneval',)  # layouts whose samples are single images (T2I)
_MAX_NAME_BYTES = 240  # file names stay under the usual 255-byte limit with '-<n>.mp4'


@dataclasses.dataclass(frozen=True)
class Job:
  """One sample to make: the caption, where it goes, its seed and (I2V) its first frame."""

  caption: str
  out: pathlib.Path  # the final file; its suffix (.mp4 or .png) is the format
  seed: int
  image: pathlib.Path | None = None


@dataclasses.dataclass(frozen=True)
class PromptSet:
  jobs: list[Job]
  files: dict[pathlib.Path, str]  # small text files of the layout (GenEval metadata, index)


def read(
    layout: str,
    path: str | pathlib.Path,
    out: str | pathlib.Path,
    *,
    samples_per_prompt: int | None = None,
    prompt_field: str | None = None,
    image_dir: str | pathlib.Path | None = None,
    video: bool = True,
    seed: int = 0,
) -> PromptSet:
  """The jobs of prompt file `path` in `layout`, writing under `out`.

  `video` (lines layout only) chooses .mp4 (True) or .png (single-frame samples).
  """
  if layout not in LAYOUTS:
    raise UserError(f'--layout={layout}: expected one of {", ".join(LAYOUTS)}')
  path, out = pathlib.Path(path), pathlib.Path(out)
  if not path.is_file():
    raise UserError(f'--prompts={path}: no such file')
  n = SAMPLES_PER_PROMPT[layout] if samples_per_prompt is None else samples_per_prompt
  if n < 1:
    raise UserError(f'--samples_per_prompt={n}: expected at least 1')
  field = prompt_field or PROMPT_FIELD.get(layout)
  if layout == 'vbench_i2v':
    if image_dir is None:
      raise UserError('--layout=vbench_i2v needs --image_dir (the folder of image_name files)')
    image_dir = pathlib.Path(image_dir)
    if not image_dir.is_dir():
      raise UserError(f'--image_dir={image_dir}: no such directory')
  elif image_dir is not None:
    raise UserError(f'--image_dir is only read by --layout=vbench_i2v, not {layout}')

  text = path.read_text(encoding='utf-8')
  files: dict[pathlib.Path, str] = {}
  # (caption, the file of sample k, first frame): one per prompt
  prompts: list[tuple[str, Callable[[int], pathlib.Path], pathlib.Path | None]] = []
  if layout == 'lines':
    captions = [line.strip() for line in text.splitlines()]
    captions = [c for c in captions if c]
    suffix = '.mp4' if video else '.png'
    for i, caption in enumerate(captions):
      prompts.append((caption, lambda k, i=i: out / f'{i:05d}-{k}{suffix}', None))
    files[out / 'prompts.jsonl'] = ''.join(
        json.dumps({'index': i, 'prompt': c}) + '\n' for i, c in enumerate(captions)
    )
  elif layout == 'geneval':
    for i, line in enumerate(text.splitlines()):
      if not line.strip():
        continue
      record = _json(line, f'{path}:{i + 1}')
      caption = _field(record, field, f'{path}:{i + 1}', hint='--prompt_field=prompt')
      folder = out / f'{len(prompts):05d}'
      files[folder / 'metadata.jsonl'] = line.strip() + '\n'
      prompts.append((caption, lambda k, folder=folder: folder / 'samples' / f'{k:04d}.png', None))
  elif layout == 'vbench_t2v':
    table = _json(text, str(path))
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
      raise UserError(f'{path}: expected a JSON object {{video name: caption}} of strings')
    for name, caption in table.items():
      _check_name(name, f'{path}: key {name[:60]!r}')
      prompts.append((caption, lambda k, name=name: out / f'{name}-{k}.mp4', None))
  else:  # vbench_i2v
    records = _json(text, str(path))
    if not isinstance(records, list):
      raise UserError(f'{path}: expected a JSON list of records')
    for i, record in enumerate(records):
      where = f'{path}: record {i}'
      if not isinstance(record, dict):
        raise UserError(f'{where}: expected a JSON object, got {type(record).__name__}')
      name = _field(record, 'prompt_en', where)
      image = image_dir / _field(record, 'image_name', where)
      if not image.is_file():
        raise UserError(f'{where}: image_name {image.name!r} is not in --image_dir={image_dir}')
      _check_name(name, f'{where}: prompt_en')
      caption = _field(record, field, where, hint='--prompt_field=prompt_en')
      prompts.append((caption, lambda k, name=name: out / f'{name}-{k}.mp4', image))
  if not prompts:
    raise UserError(f'--prompts={path}: no prompts in it')

  jobs = []
  for p, (caption, file_of, image) in enumerate(prompts):
    jobs.extend(Job(caption, file_of(k), seed + p * n + k, image) for k in range(n))
  names = [j.out for j in jobs]
  if len(set(names)) != len(names):
    raise UserError(f'--prompts={path}: two prompts write the same file (duplicate video names)')
  return PromptSet(jobs, files)


def _json(text: str, where: str) -> Any:
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise UserError(f'{where}: not valid JSON ({e})') from e


def _field(record: Any, name: str, where: str, hint: str = '') -> str:
  if not isinstance(record, dict) or not isinstance(record.get(name), str):
    keys = sorted(record) if isinstance(record, dict) else []
    raise UserError(
        f'{where}: expected a string field {name!r} (fields: {keys})'
        + (f'; choose another with {hint}' if hint else '')
    )
  return record[name]


def _check_name(name: str, where: str) -> None:
  if not name or '/' in name or '\0' in name or name in ('.', '..'):
    raise UserError(f'{where}: {name!r} cannot be a file name')
  if len(name.encode()) > _MAX_NAME_BYTES:
    raise UserError(f'{where}: the name is {len(name.encode())} bytes, over {_MAX_NAME_BYTES}')
