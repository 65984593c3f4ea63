# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The Lumos-1 decoder: config, modules, KV cache and entry points."""

from lumos_jax.model.cache import KVCache, init_cache
from lumos_jax.model.config import ModelConfig
from lumos_jax.model.decoder import Decoder
from lumos_jax.model.forward import Inputs, extend, logits, prefill, prepare_inputs
from lumos_jax.model.init import create_model, create_sharded_model

__all__ = [
    'Decoder',
    'Inputs',
    'KVCache',
    'ModelConfig',
    'create_model',
    'create_sharded_model',
    'extend',
    'init_cache',
    'logits',
    'prefill',
    'prepare_inputs',
]
