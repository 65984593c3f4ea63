# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The configured visual tokenizer, and a reduced Cosmos DV driving the whole project from the
command line: convert-tokenizer -> prepare (synthetic clips) -> train 2 steps -> sample -> mp4."""

import json
import pathlib
import re
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import safetensors.numpy
import tokenizers
from tokenizers import models, pre_tokenizers

from lumos_jax import config as config_lib
from lumos_jax import run_dir, testing
from lumos_jax.data import synthetic
from lumos_jax.errors import UserError
from lumos_jax.tokenizers import visual

FIXTURE = testing.REPO / 'tests' / 'fixtures' / 'cosmos_dv_small.npz'


def _release(path):
  """The fixture's weights as a plain state-dict file (official names, float32)."""
  with np.load(FIXTURE) as f:
    weights = {k[2:]: f[k] for k in f.files if k.startswith('w/')}
  safetensors.numpy.save_file(weights, str(path))
  return path


def _text_tokenizer(path):
  """A word-level tokenizer.json for the lumos1 vocabulary: the synthetic captions' words at ids
  from 10000 (clear of the special ids 8196-9005), anything else [UNK]."""
  words = set()
  for split in synthetic.SPLITS:
    for ex in synthetic.generate(64, seed=0, frames=1, size=32, split=split):
      words.update(re.findall(r'\w+|[^\w\s]', ex.caption))
  vocab = {w: 10001 + i for i, w in enumerate(sorted(words))}
  vocab['[UNK]'] = 10000
  tok = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token='[UNK]'))
  tok.pre_tokenizer = pre_tokenizers.Whitespace()
  tok.save(str(path))
  return path


def _cli(*args):
  proc = subprocess.run(
      [sys.executable, '-m', 'lumos_jax', *args],
      capture_output=True,
      text=True,
      timeout=600,
      env=testing.subprocess_env(1),
      cwd=testing.REPO,
  )
  assert proc.returncode == 0, (args[:1], proc.stderr[-4000:])
  return proc


def test_cosmos_tokenizer_runs_the_project_from_the_command_line(tmp_path):
  converted = tmp_path / 'cosmos'
  _cli(
      'convert-tokenizer',
      f'--src={_release(tmp_path / "release.safetensors")}',
      f'--out={converted}',
  )
  overrides = {
      'vocab.preset': 'lumos1',
      'vocab.codebook_size': 0,
      'data.tokenizer.kind': 'cosmos',
      'data.tokenizer.path': converted,
      'data.tokenizer.dtype': 'float32',
      'data.text_tokenizer': _text_tokenizer(tmp_path / 't.json'),
      'data.dir': tmp_path / 'data',
      'data.num_train': 16,
      'data.num_heldout': 4,
      'data.num_train_images': 8,
      'data.num_heldout_images': 2,
      'data.frames': 5,
      'data.image_fraction': 0.5,
      'train.num_steps': 2,
      'train.eval_every': 0,
      'checkpoint.every_steps': 2,
      'train.progress_bar': False,
      'sample.eval_prompts': 2,
  }
  config = [f'--config={testing.REPO / "configs" / "tiny.py"}', *testing.cli_overrides(**overrides)]
  prepared = _cli('prepare', *config).stdout.strip().splitlines()[-1].removeprefix('data ready in ')
  meta = json.loads((pathlib.Path(prepared) / 'meta.json').read_text())
  assert meta['tokenizer']['kind'] == 'cosmos' and meta['codebook_size'] == 64000

  workdir = tmp_path / 'run'
  _cli('train', *config, f'--workdir={workdir}')
  assert (workdir / run_dir.COSMOS_TOKENIZER / 'cosmos.safetensors').is_file()
  heldout = run_dir.heldout(workdir)
  assert heldout[0].codes.shape == (2, 4, 4)  # 5 frames of 32x32 px -> 2 latent frames of 4x4

  out = tmp_path / 'sample'
  _cli(
      'sample',
      f'--workdir={workdir}',
      '--prompt=a red circle moving left',
      '--steps=2',
      '--frames=3',
      f'--out={out}',
  )
  video = iio.imread(out.with_suffix('.mp4'))
  assert video.shape[0] == 4 * 3 - 3  # 3 latent frames decode to 9 RGB frames
  assert video.shape[1] == video.shape[2] == 256  # 32x32 px, upscaled x8 for viewing


def test_cosmos_config_errors_are_named(tmp_path):
  base = config_lib.load(str(testing.REPO / 'configs' / 'tiny.py'))
  base.data.tokenizer.kind = 'cosmos'
  data = config_lib.parse(base).data
  with pytest.raises(UserError, match='needs data.tokenizer.path'):
    visual.cosmos_dir(data.tokenizer)
  base.data.tokenizer.path = str(tmp_path)
  with pytest.raises(UserError, match='config.json, cosmos.safetensors not found'):
    visual.fingerprint(config_lib.parse(base).data.tokenizer)
