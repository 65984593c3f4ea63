# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Cosmos DV discrete video tokenizer (Lumos-1's DV4x8x8) in Flax NNX.

`config` (architecture), `state_dict` (official names and a strict check), `patching` (Haar),
`fsq`, `layers` and `model` (the network), `tokenizer` (the `VisualTokenizer`), `importer`
(NVIDIA's release files -> `config.json` + `cosmos.safetensors`).
"""

from lumos_jax.tokenizers.cosmos.config import CosmosConfig
from lumos_jax.tokenizers.cosmos.model import CosmosDV
from lumos_jax.tokenizers.cosmos.tokenizer import CosmosTokenizer

__all__ = ['CosmosConfig', 'CosmosDV', 'CosmosTokenizer']
