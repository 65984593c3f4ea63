# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Lumos-1 1B: supervised fine-tuning of a converted release (or any earlier run) on a user folder.

The official stage-2 joint image-video recipe (spec 6.10: lr = min_lr = 2.5e-5, weight decay 0.1,
clip 4, AR-DF tube masks, 1 image step per video step), started as the official stage 2 starts
from `ckpts/1B/stage-2-joint-384p` with `--no_resume_iterations`: the parameters of RUN's latest
checkpoint, a fresh optimizer, step 0 (`train.init_from`, lumos_jax/train/init_from.py). The
model and vocabulary are read from RUN/config.json (a converted release has the released shape,
not the recipe's); the data are the user's folder pre-tokenised at 384p with the official
aspect-ratio crop list (data.user.crop_target=528, spec 8.2), as the release was trained.

  python -m lumos_jax train --config=configs/lumos1_1b_finetune.py:init_from=runs/lumos1_1b \
      --config.data.user.root=my_videos --workdir=runs/lumos1_1b_finetune
Arguments after ':' (comma separated): init_from (RUN), steps_per_epoch, epochs (100), gpus (48:
global batch), runlocal (False; True shrinks the run to a CPU-sized one that does not read RUN,
whose model is full-size: lumos_jax/config/runlocal.py):

  python -m lumos_jax train --config=configs/lumos1_1b_finetune.py:runlocal=True \
      --workdir=/tmp/lumos1_1b_finetune
"""

import json
import pathlib

from lumos_jax.config import recipes
from lumos_jax.config.args import parse_arg
from lumos_jax.errors import ConfigError
from lumos_jax.train.init_from import COMPUTE_FIELDS

CROP_TARGET_384P = 528  # spec 8.1: the 384p pre-tokenisation's --target_size


def _source_model(run: str) -> tuple[dict, dict]:
  """(model, vocab) sections of RUN/config.json, the model without its compute settings."""
  path = pathlib.Path(run) / 'config.json'
  if not path.is_file():
    raise ConfigError(
        f'config argument init_from={run}: {path} not found (a `train` or `convert` run)'
    )
  raw = json.loads(path.read_text())
  model = {k: v for k, v in raw['model'].items() if k not in COMPUTE_FIELDS}
  return model, raw['vocab']


def get_config(arg=None):
  arg = parse_arg(arg, init_from='', steps_per_epoch=10000, epochs=100, gpus=48, runlocal=False)
  recipe_arg = ','.join(f'{k}={arg[k]}' for k in ('steps_per_epoch', 'epochs', 'gpus', 'runlocal'))
  config = recipes.lumos1_config('1b', 'stage2_joint', recipe_arg)
  if arg.runlocal:
    return config
  config.data.dir = 'data/lumos1_384p'
  with config.data.ignore_type():
    config.data.size = (384, 672)  # the default resolution of `sample`; 672x384 as released
  config.data.user.crop_target = CROP_TARGET_384P
  if arg.init_from:
    model, vocab = _source_model(arg.init_from)
    config.model.update(**model)
    config.vocab.update(**vocab)
    config.train.init_from = arg.init_from
  return config
