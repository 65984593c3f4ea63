# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""CosmosConfig: presets, the official kwargs, sampler flags and the frame-count rule."""

import json
import pathlib

import numpy as np
import pytest

from lumos_jax.tokenizers.cosmos.config import CosmosConfig

FIXTURE = pathlib.Path(__file__).parents[2] / 'fixtures' / 'cosmos_dv_small.npz'


def _fixture_kwargs() -> dict:
  with np.load(FIXTURE) as f:
    return json.loads(str(f['config_json']))


def test_fixture_kwargs_give_the_small_dv4x8x8():
  assert CosmosConfig.from_official_kwargs(_fixture_kwargs()) == CosmosConfig.dv4x8x8(channels=16)


def test_official_kwargs_round_trip():
  for config in (CosmosConfig.dv4x8x8(), CosmosConfig.dv8x8x8(), CosmosConfig(channels=16)):
    assert CosmosConfig.from_official_kwargs(config.official_kwargs()) == config


def test_presets():
  lumos = CosmosConfig.dv4x8x8()
  assert (lumos.temporal_compression, lumos.spatial_compression) == (4, 8)
  assert lumos.codebook_size == 64000 and lumos.patched_channels == 192
  assert (lumos.num_spatial_downs, lumos.num_temporal_downs) == (1, 0)
  assert CosmosConfig.dv8x8x8().num_temporal_downs == 1


def test_missing_compression_keys_take_the_official_class_defaults():
  kwargs = _fixture_kwargs()
  del kwargs['spatial_compression'], kwargs['temporal_compression']
  config = CosmosConfig.from_official_kwargs(kwargs)
  assert (config.temporal_compression, config.spatial_compression) == (8, 16)


@pytest.mark.parametrize(
    'key, value',
    [
        ('encoder', 'BASE'),
        ('quantizer', 'LFQ'),
        ('legacy_mode', True),
        ('z_factor', 2),
        ('embedding_dim', 5),
        ('spatial_compression', 12),
        ('temporal_compression', 16),
        ('attn_resolutions', [256]),
        ('bogus_key', 1),
    ],
)
def test_bad_kwargs_name_the_key(key, value):
  kwargs = {**_fixture_kwargs(), key: value}
  with pytest.raises(ValueError, match=key):
    CosmosConfig.from_official_kwargs(kwargs)


def test_harmless_kwargs_are_accepted():
  kwargs = {**_fixture_kwargs(), 'num_groups': 32, 'dropout': 0.1, 'resolution': 2048, 'name': 'x'}
  assert CosmosConfig.from_official_kwargs(kwargs) == CosmosConfig.dv4x8x8(channels=16)


def test_sampler_flags():
  dv4, dv8 = CosmosConfig.dv4x8x8(), CosmosConfig.dv8x8x8()
  # (spatial, temporal) per level; None where the level has no sampler.
  assert [dv4.down_flags(i) for i in range(3)] == [(True, False), (False, False), None]
  assert [dv4.up_flags(i) for i in range(3)] == [None, (False, False), (True, False)]
  assert [dv8.down_flags(i) for i in range(3)] == [(True, True), (False, False), None]
  assert [dv8.up_flags(i) for i in range(3)] == [None, (True, True), (False, False)]


def test_frame_counts():
  dv4, dv8 = CosmosConfig.dv4x8x8(), CosmosConfig.dv8x8x8()
  # Lumos pre-tokenises 84- and 24-frame clips (COSMOS_DV.md section 7).
  assert [dv4.latent_frames(t) for t in (1, 2, 5, 6, 9, 24, 84)] == [1, 2, 2, 3, 3, 7, 22]
  assert [dv4.decoded_frames(t) for t in (1, 7, 22)] == [1, 25, 85]
  assert [dv8.latent_frames(t) for t in (1, 9, 17)] == [1, 2, 3]
  assert dv8.decoded_frames(3) == 17
  with pytest.raises(ValueError):
    dv4.latent_frames(0)
