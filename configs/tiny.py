# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Tiny config for tests and smoke runs: 2 layers, width 64, 32x32 videos of 4 frames.

  python -m lumos_jax train --config=configs/tiny.py --workdir=/tmp/tiny
"""

import ml_collections as mlc


def get_config(arg=None) -> mlc.ConfigDict:
  del arg
  config = mlc.ConfigDict()
  config.seed = 0
  config.vocab = mlc.ConfigDict(dict(preset='demo', codebook_size=64))
  config.model = mlc.ConfigDict(dict(
      embed_dim=64,
      num_layers=2,
      num_heads=4,
      num_kv_heads=2,
      head_dim=32,
      mlp_dim=128,
      rope_variant='mm',
      attention_mask='frame_causal',
      dtype='float32',
      param_dtype='float32',
      remat_policy='none',
  ))
  # Data: synthetic captioned videos, tokenised by the demo patch tokenizer.
  config.data = mlc.ConfigDict(dict(
      dir='data/tiny',
      source='synthetic',
      batch_size=8,
  ))
  config.ardf = mlc.ConfigDict(dict(mask_type='tube', schedule='cosine', min_masking_rate=0.7))
  config.optim = mlc.ConfigDict(dict(
      learning_rate=3e-3, min_learning_rate=3e-3, warmup_steps=10, decay='constant',
      decay_steps=0, weight_decay=0.1, b1=0.9, b2=0.95, eps=1e-8, grad_clip_norm=4.0,
  ))
  config.loss = mlc.ConfigDict(dict(chunk_size=64, z_loss_weight=0.0, max_frames=8))
  return config
