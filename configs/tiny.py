# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Tiny config for unit tests: 2 layers, width 64, head_dim 32, a 64-code demo vocabulary.

  python -m lumos_jax <command> --config=configs/tiny.py
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
      dtype='float32',
      param_dtype='float32',
      remat_policy='none',
  ))
  return config
