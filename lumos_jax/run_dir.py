# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""A self-contained run directory: everything `sample`, `eval` (and the web app) need.

  WORKDIR/config.json            the complete config (every key), parsed again on load
  WORKDIR/vocab.json             the vocabulary (all ids and ranges)
  WORKDIR/visual_tokenizer.npz   the visual tokenizer: the data set's fitted patch VQ, or
  WORKDIR/visual_tokenizer/      a converted Cosmos DV (config.json, cosmos.safetensors; a hard
                                 link to the converted files where the file system allows)
  WORKDIR/text_tokenizer.json    the text tokenizer file, when the vocabulary has no byte range
  WORKDIR/heldout.npz            up to `sample.eval_prompts` held-out videos: captions, text ids,
                                 codes, fps and attributes (the prompts `eval` scores)
  WORKDIR/checkpoints/<step>/    Orbax checkpoints (lumos_jax/checkpoint.py)

`write` copies them in when training starts (process 0); after that the data folder may be
deleted. Every file is written to a temporary name and renamed, so a crash never leaves a
half-written asset.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib
import shutil
import uuid
from typing import Any

import numpy as np

from lumos_jax import config as config_lib
from lumos_jax.data import records
from lumos_jax.errors import UserError
from lumos_jax.tokenizers import patch_vq, text as text_lib, visual
from lumos_jax.vocab import Vocab

CONFIG = 'config.json'
VOCAB = 'vocab.json'
VISUAL_TOKENIZER = 'visual_tokenizer.npz'
COSMOS_TOKENIZER = 'visual_tokenizer'
TEXT_TOKENIZER = 'text_tokenizer.json'
HELDOUT = 'heldout.npz'


def _atomic_bytes(path: pathlib.Path, data: bytes) -> None:
  tmp = path.with_name(f'.{path.name}.tmp-{uuid.uuid4().hex[:8]}')
  tmp.write_bytes(data)
  os.replace(tmp, path)


def _heldout_records(config: config_lib.Config, version_dir: pathlib.Path) -> list[records.Record]:
  """The first `sample.eval_prompts` held-out videos of a prepared data set (none without one)."""
  if not (version_dir / 'meta.json').is_file():
    return []
  meta = records.load_meta(version_dir)
  split = meta['splits'].get('heldout')
  if split is None:
    return []
  lo, hi = split['videos']
  source = records.RecordSource(
      records.builder_dir(version_dir / 'records'),
      'heldout',
      records.Checks.for_vocab(config.vocab, config.data.max_text_tokens),
  )
  return [source[i] for i in range(lo, min(hi, lo + config.sample.eval_prompts))]


def _heldout_bytes(items: list[records.Record]) -> bytes:
  arrays: dict[str, Any] = {
      'meta': np.asarray(
          json.dumps(
              [
                  {'id': r.id, 'caption': r.caption, 'fps': r.fps, 'attributes': r.attributes}
                  for r in items
              ]
          )
      )
  }
  for i, r in enumerate(items):
    arrays[f'text_ids_{i}'] = r.text_ids
    arrays[f'codes_{i}'] = r.codes
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
  return buffer.getvalue()


def copy_cosmos(source: str | os.PathLike, workdir: str | os.PathLike) -> None:
  """Links (or copies) a converted Cosmos directory into `workdir` as its visual tokenizer."""
  _copy_cosmos(pathlib.Path(source), pathlib.Path(workdir) / COSMOS_TOKENIZER)


def _copy_cosmos(source: pathlib.Path, target: pathlib.Path) -> None:
  """The converted Cosmos files into the run (hard links where possible: they are ~0.4 GB);
  kept when the run already holds files of the same sizes (a resumed run)."""
  names = visual.COSMOS_FILES
  if target.is_dir() and all(
      (target / n).is_file() and (target / n).stat().st_size == (source / n).stat().st_size
      for n in names
  ):
    return
  tmp = target.with_name(f'.{target.name}.tmp-{uuid.uuid4().hex[:8]}')
  tmp.mkdir()
  for name in names:
    try:
      os.link(source / name, tmp / name)
    except OSError:  # another file system, or links not allowed
      shutil.copyfile(source / name, tmp / name)
  if target.exists():
    shutil.rmtree(target)
  os.replace(tmp, target)


def write(
    workdir: str | os.PathLike, config: config_lib.Config, version_dir: str | os.PathLike | None
) -> None:
  """Copies the run's assets into `workdir` (see the module docstring).

  Args:
    workdir: the run directory.
    config: the parsed config of the run.
    version_dir: the prepared data set (its tokenizer.npz and held-out records), or None.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  _atomic_bytes(workdir / CONFIG, (json.dumps(config.raw, indent=2) + '\n').encode())
  _atomic_bytes(
      workdir / VOCAB, (json.dumps(dataclasses.asdict(config.vocab), indent=1) + '\n').encode()
  )
  if config.data.text_tokenizer:
    _atomic_bytes(workdir / TEXT_TOKENIZER, pathlib.Path(config.data.text_tokenizer).read_bytes())
  if version_dir is None:
    return
  version_dir = pathlib.Path(version_dir)
  if config.data.tokenizer.kind == 'cosmos':
    _copy_cosmos(visual.cosmos_dir(config.data.tokenizer), workdir / COSMOS_TOKENIZER)
  elif (version_dir / visual.PATCH_VQ_FILE).is_file():
    tmp = workdir / f'.{VISUAL_TOKENIZER}.tmp-{uuid.uuid4().hex[:8]}'
    shutil.copyfile(version_dir / visual.PATCH_VQ_FILE, tmp)
    os.replace(tmp, workdir / VISUAL_TOKENIZER)
  items = _heldout_records(config, version_dir)
  if items:
    _atomic_bytes(workdir / HELDOUT, _heldout_bytes(items))


def _require(workdir: pathlib.Path, name: str) -> pathlib.Path:
  path = workdir / name
  if not path.is_file():
    raise UserError(
        f'{path} not found: is {workdir} a training run directory (made by `train` '
        'or `convert`)?'
    )
  return path


def read_config(workdir: str | os.PathLike) -> config_lib.Config:
  """The parsed config the run was trained with."""
  path = _require(pathlib.Path(workdir), CONFIG)
  try:
    return config_lib.parse(json.loads(path.read_text()))
  except json.JSONDecodeError as e:
    raise UserError(f'{path}: not valid JSON ({e})') from e


def read_vocab(workdir: str | os.PathLike) -> Vocab:
  raw = json.loads(_require(pathlib.Path(workdir), VOCAB).read_text())
  return Vocab(**raw)


def text_tokenizer(workdir: str | os.PathLike, vocab: Vocab) -> text_lib.TextTokenizer:
  path = pathlib.Path(workdir) / TEXT_TOKENIZER
  return text_lib.for_vocab(vocab, str(path) if path.is_file() else None)


def visual_tokenizer(
    workdir: str | os.PathLike, dtype: str = 'bfloat16'
) -> patch_vq.VisualTokenizer:
  """The run's visual tokenizer (a Cosmos DV computes in `dtype`)."""
  workdir = pathlib.Path(workdir)
  if (workdir / COSMOS_TOKENIZER).is_dir():
    return visual.load_cosmos(workdir / COSMOS_TOKENIZER, dtype)
  return visual.load(_require(workdir, VISUAL_TOKENIZER))


def heldout(workdir: str | os.PathLike) -> list[records.Record]:
  """The held-out videos copied into the run (empty when its data had none)."""
  path = pathlib.Path(workdir) / HELDOUT
  if not path.is_file():
    return []
  with np.load(path) as f:
    meta = json.loads(str(f['meta']))
    return [
        records.Record(
            index=i,
            id=m['id'],
            caption=m['caption'],
            text_ids=f[f'text_ids_{i}'],
            codes=f[f'codes_{i}'],
            fps=int(m['fps']),
            attributes=m['attributes'],
        )
        for i, m in enumerate(meta)
    ]
