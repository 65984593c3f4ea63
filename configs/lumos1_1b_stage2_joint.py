# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Lumos-1 1B, stage 2: joint image-video training, 1 image step per video step (spec 6.9, 6.10).

Official hyper-parameters; the model shape is a documented public shape of the same size, not the
released checkpoint's (the spec does not give it): see lumos_jax/config/recipes.py.

  python -m lumos_jax train --config=configs/lumos1_1b_stage2_joint.py:steps_per_epoch=N \
      --workdir=runs/lumos1_1b_stage2_joint
Arguments after ':' (comma separated): steps_per_epoch, epochs (100), gpus (48: global batch),
runlocal (False; True shrinks the run to a CPU-sized one, lumos_jax/config/runlocal.py):

  python -m lumos_jax train --config=configs/lumos1_1b_stage2_joint.py:runlocal=True \
      --workdir=/tmp/lumos1_1b_stage2_joint
"""

from lumos_jax.config import recipes


def get_config(arg=None):
  return recipes.lumos1_config('1b', 'stage2_joint', arg)
