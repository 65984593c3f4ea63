# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The Lumos-1 decoder: config, modules, inputs, KV cache and the `logits` convenience."""

from lumos_jax.model.cache import KVCache, init_cache
from lumos_jax.model.config import ModelConfig
from lumos_jax.model.decoder import Decoder
from lumos_jax.model.forward import logits
from lumos_jax.model.init import create_model, create_sharded_model
from lumos_jax.model.inputs import Inputs, prepare_inputs

__all__ = [
    'Decoder',
    'Inputs',
    'KVCache',
    'ModelConfig',
    'create_model',
    'create_sharded_model',
    'init_cache',
    'logits',
    'prepare_inputs',
]
