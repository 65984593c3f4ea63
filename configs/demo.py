# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Embedded default: a ~4M-parameter decoder on synthetic captioned 64x64 videos.

The visual tokenizer is the demo patch VQ (8x8 px patches, no temporal compression), so MM-RoPE
strides are (1, 8, 8) and one grid unit is one latent row.

  python -m lumos_jax train --config=configs/demo.py --workdir=outputs/demo
"""

import ml_collections as mlc


def get_config(arg=None) -> mlc.ConfigDict:
  del arg
  config = mlc.ConfigDict()
  config.seed = 0
  config.vocab = mlc.ConfigDict(dict(preset='demo', codebook_size=512))
  config.model = mlc.ConfigDict(dict(
      embed_dim=256,
      num_layers=4,
      num_heads=8,
      num_kv_heads=4,
      head_dim=32,
      mlp_dim=768,
      rope_variant='mm',
      attention_mask='frame_causal',
      dtype='float32',
      param_dtype='float32',
      remat_policy='none',
  ))
  config.data = mlc.ConfigDict(dict(
      dir='data/demo',
      source='synthetic',
      batch_size=8,
  ))
  config.ardf = mlc.ConfigDict(dict(mask_type='tube', schedule='cosine', min_masking_rate=0.7))
  config.optim = mlc.ConfigDict(dict(
      learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=100, decay='cosine',
      decay_steps=3000, weight_decay=0.1, b1=0.9, b2=0.95, eps=1e-8, grad_clip_norm=4.0,
  ))
  config.loss = mlc.ConfigDict(dict(chunk_size=128, z_loss_weight=0.0, max_frames=8))
  return config
