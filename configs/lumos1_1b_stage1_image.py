# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Lumos-1 1B, stage 1: text-to-image pre-training on images (spec 6.10, first column).

Official hyper-parameters; the model shape is a documented public shape of the same size, not the
released checkpoint's (the spec does not give it): see configs/common.py.

  python -m lumos_jax train --config=configs/lumos1_1b_stage1_image.py:steps_per_epoch=N \
      --workdir=runs/lumos1_1b_stage1_image
Arguments after ':' (comma separated): steps_per_epoch, epochs (100), gpus (48: global batch).
"""

import pathlib
import runpy

_COMMON = runpy.run_path(str(pathlib.Path(__file__).with_name('common.py')))


def get_config(arg=None):
  return _COMMON['lumos1_config']('1b', 'stage1_image', arg)
