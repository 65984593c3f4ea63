# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Embedded default: a ~4M-parameter decoder for 64x64 synthetic videos tokenised by 8x8 patches.

  python -m lumos_jax <command> --config=configs/demo.py
"""

import ml_collections as mlc


def get_config(arg=None) -> mlc.ConfigDict:
  del arg
  config = mlc.ConfigDict()
  config.seed = 0
  # 8x8 px patches, no temporal compression: MM-RoPE strides (1, 8, 8), one grid unit per row.
  config.vocab = mlc.ConfigDict(dict(preset='demo', codebook_size=512))
  config.model = mlc.ConfigDict(dict(
      embed_dim=256,
      num_layers=4,
      num_heads=8,
      num_kv_heads=4,
      head_dim=32,
      mlp_dim=768,
      rope_variant='mm',
      dtype='float32',
      param_dtype='float32',
      remat_policy='none',
  ))
  return config
