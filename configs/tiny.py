# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Tiny config for tests and smoke runs: 2 layers, width 64, 32x32 videos of 4 frames.

  python -m lumos_jax train --config=configs/tiny.py --workdir=/tmp/tiny

Only what differs from the base config (lumos_jax/config/base.py) is set here.
"""

from lumos_jax.config import base, parse_arg, runlocal


def get_config(arg=None):
  arg = parse_arg(arg, runlocal=False)
  config = base.get_config()
  config.vocab.codebook_size = 64
  config.model.update(
      embed_dim=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=32, mlp_dim=128
  )
  config.data.update(
      dir='data/tiny',
      num_train=96,
      num_heldout=16,
      num_train_images=16,
      num_heldout_images=4,
      frames=4,
      fps=4,
      batch_size=8,
      length_buckets=(96, 128, 192),
  )
  config.data.tokenizer.update(iters=10, fit_items=64)
  config.optim.update(learning_rate=3e-3, min_learning_rate=3e-3, warmup_steps=10)
  config.loss.chunk_size = 64
  config.train.update(
      num_steps=20, log_every=1, eval_every=10, eval_batches=1, max_nonfinite_in_a_row=3
  )
  config.checkpoint.every_steps = 10
  config.sample.update(steps=4, cfg_scale=3.0, image_cfg_scale=3.0, eval_prompts=8)
  return runlocal(config) if arg.runlocal else config
