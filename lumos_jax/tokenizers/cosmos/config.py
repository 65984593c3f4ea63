# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Configuration of the Cosmos DV (discrete video) tokenizer, in the official kwargs' terms.

The official class `CausalDiscreteVideoTokenizer(**config)` takes a dict of kwargs
(`networks/configs.py:discrete_video`); Lumos overrides only the two compression factors
(`DV4x8x8`). `CosmosConfig` keeps the kwargs that shape the network and derives the per-level
down/up-sampling flags exactly as `EncoderFactorized` / `DecoderFactorized` do
(COSMOS_DV.md sections 1 and 4).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

# Official kwargs that change nothing for this (factorised, FSQ, Haar, eval-mode) network: `name`
# is a label, `num_groups` is ignored by the factorised blocks (they hard-code 1), `dropout` is
# the identity in eval mode. `attn_resolutions` and `resolution` are checked separately: they
# are harmless only while no level's resolution is listed.
_IGNORED_KEYS = frozenset({'name', 'num_groups', 'dropout', 'attn_resolutions', 'resolution'})
# Official kwargs this port implements for one value only.
_FIXED_KEYS = {
    'encoder': 'FACTORIZED',
    'decoder': 'FACTORIZED',
    'quantizer': 'FSQ',
    'patch_method': 'haar',
    'legacy_mode': False,
    'z_factor': 1,
}
# Defaults of the official class for the two keys Lumos overrides (COSMOS_DV.md section 1).
_CLASS_DEFAULTS = {'spatial_compression': 16, 'temporal_compression': 8}


def _log2(value: int, key: str) -> int:
  if not isinstance(value, int) or value < 1 or value & (value - 1):
    raise ValueError(f'{key}={value!r} must be a positive power of two')
  return value.bit_length() - 1


@dataclasses.dataclass(frozen=True)
class CosmosConfig:
  """Architecture of a Cosmos DV tokenizer (the kwargs of the official class that matter).

  Attributes:
    in_channels: RGB input channels (3).
    out_channels: decoded channels (3).
    channels: width of the first ResNet level (128 in the release).
    channels_mult: width multiplier per level; the number of levels is its length.
    num_res_blocks: ResNet blocks per encoder level (the decoder has one more per level).
    z_channels: encoder output / decoder input channels.
    embedding_dim: FSQ channels (= len(levels)).
    levels: FSQ levels per channel; the codebook has prod(levels) entries.
    patch_size: Haar patch size (a power of two; log2 of it wavelet levels).
    spatial_compression: pixels per latent cell along H and W.
    temporal_compression: frames per latent frame (after the first).
  """

  in_channels: int = 3
  out_channels: int = 3
  channels: int = 128
  channels_mult: tuple[int, ...] = (2, 4, 4)
  num_res_blocks: int = 2
  z_channels: int = 16
  embedding_dim: int = 6
  levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)
  patch_size: int = 4
  spatial_compression: int = 8
  temporal_compression: int = 4

  def __post_init__(self):
    object.__setattr__(self, 'channels_mult', tuple(int(m) for m in self.channels_mult))
    object.__setattr__(self, 'levels', tuple(int(v) for v in self.levels))
    for key in ('in_channels', 'out_channels', 'channels', 'num_res_blocks', 'z_channels'):
      if getattr(self, key) < 1:
        raise ValueError(f'{key}={getattr(self, key)} must be positive')
    if not self.channels_mult or min(self.channels_mult) < 1:
      raise ValueError(f'channels_mult={self.channels_mult} must be non-empty and positive')
    if not self.levels or min(self.levels) < 2:
      raise ValueError(f'levels={self.levels} must be non-empty, each at least 2')
    if self.embedding_dim != len(self.levels):
      raise ValueError(
          f'embedding_dim={self.embedding_dim} must equal len(levels)={len(self.levels)}'
      )
    if self.codebook_size >= 2**31:
      raise ValueError(f'levels={self.levels}: {self.codebook_size} codes overflow int32 indices')
    patch = _log2(self.patch_size, 'patch_size')
    for key in ('spatial_compression', 'temporal_compression'):
      if _log2(getattr(self, key), key) < patch:
        raise ValueError(f'{key}={getattr(self, key)} is smaller than patch_size={self.patch_size}')
    if self.num_spatial_downs > self.num_levels - 1:
      raise ValueError(
          f'spatial_compression={self.spatial_compression} needs {self.num_spatial_downs} '
          f'downsampling levels but channels_mult has only {self.num_levels - 1} level transitions'
      )
    # The official decoder places its up-samplers by its own rule (`up_flags`); where that rule
    # does not mirror the encoder (e.g. more temporal than spatial steps, or too few levels for
    # the temporal ones), the official code silently returns the wrong size.
    ups = [self.up_flags(i) for i in range(1, self.num_levels)]
    counts = (sum(f[0] for f in ups), sum(f[1] for f in ups))
    if counts != (self.num_spatial_downs, self.num_temporal_downs):
      raise ValueError(
          f'temporal_compression={self.temporal_compression}, spatial_compression='
          f'{self.spatial_compression} with {self.num_levels} levels (channels_mult): the '
          f'decoder would up-sample (space, time) {counts} times, the encoder down-samples '
          f'{(self.num_spatial_downs, self.num_temporal_downs)}'
      )

  @classmethod
  def dv4x8x8(cls, **overrides: Any) -> CosmosConfig:
    """Lumos-1's tokenizer (`Cosmos-Tokenizer-DV4x8x8`); overrides e.g. channels=16 for tests."""
    return cls(**{'temporal_compression': 4, 'spatial_compression': 8, **overrides})

  @classmethod
  def dv8x8x8(cls, **overrides: Any) -> CosmosConfig:
    """`Cosmos-Tokenizer-DV8x8x8` (same tensor shapes as DV4x8x8, other sampler convs used)."""
    return cls(**{'temporal_compression': 8, 'spatial_compression': 8, **overrides})

  @classmethod
  def from_official_kwargs(cls, kwargs: Mapping[str, Any]) -> CosmosConfig:
    """Builds the config from the kwargs given to the official class (e.g. a `config_json`).

    Keys that change nothing here (`name`, `num_groups`, `dropout`, unmatched `attn_resolutions`,
    `resolution`) are accepted; `spatial_compression` / `temporal_compression` default to the
    official class defaults (16, 8) when absent, the other fields to the DV preset.

    Raises:
      ValueError: naming the key, for an unknown key, a value this port does not implement
        (e.g. `encoder` other than 'FACTORIZED', `attn_resolutions` matching a level) or an
        inconsistent one (e.g. `embedding_dim` != len(levels)).
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - fields - _IGNORED_KEYS - set(_FIXED_KEYS))
    if unknown:
      raise ValueError(f'unknown Cosmos tokenizer config keys: {unknown}')
    for key, want in _FIXED_KEYS.items():
      if key in kwargs and kwargs[key] != want:
        raise ValueError(f'{key}={kwargs[key]!r} is not supported (only {want!r})')
    values = {**_CLASS_DEFAULTS, **{k: v for k, v in kwargs.items() if k in fields}}
    for key in ('channels_mult', 'levels'):
      if key in values:
        values[key] = tuple(values[key])
    try:
      config = cls(**values)
    except (TypeError, ValueError) as e:
      raise ValueError(f'inconsistent Cosmos tokenizer config: {e}') from e
    dead = set(kwargs.get('attn_resolutions', ())) & set(
        config.attention_resolutions(kwargs.get('resolution', 1024))
    )
    if dead:
      raise ValueError(
          f'attn_resolutions={list(kwargs["attn_resolutions"])} puts attention in a ResNet level '
          f'(resolutions {sorted(dead)}); only the mid-block attention is implemented'
      )
    return config

  def official_kwargs(self) -> dict[str, Any]:
    """The kwargs for the official class (the inverse of `from_official_kwargs`)."""
    return {
        'attn_resolutions': [32],
        'channels': self.channels,
        'channels_mult': list(self.channels_mult),
        'decoder': 'FACTORIZED',
        'dropout': 0.0,
        'embedding_dim': self.embedding_dim,
        'encoder': 'FACTORIZED',
        'in_channels': self.in_channels,
        'legacy_mode': False,
        'levels': list(self.levels),
        'name': 'DV',
        'num_groups': 1,
        'num_res_blocks': self.num_res_blocks,
        'out_channels': self.out_channels,
        'patch_method': 'haar',
        'patch_size': self.patch_size,
        'quantizer': 'FSQ',
        'resolution': 1024,
        'spatial_compression': self.spatial_compression,
        'temporal_compression': self.temporal_compression,
        'z_channels': self.z_channels,
        'z_factor': 1,
    }

  def attention_resolutions(self, resolution: int) -> tuple[int, ...]:
    """The `curr_res` values the official encoder/decoder compare with `attn_resolutions`."""
    base = resolution // self.patch_size
    return tuple(base // 2**i for i in range(self.num_levels))

  @property
  def num_levels(self) -> int:
    return len(self.channels_mult)

  @property
  def codebook_size(self) -> int:
    return math.prod(self.levels)

  @property
  def haar_levels(self) -> int:
    return self.patch_size.bit_length() - 1

  @property
  def patched_channels(self) -> int:
    """Channels after the Haar patcher: in_channels * patch_size**3 (192)."""
    return self.in_channels * self.patch_size**3

  @property
  def num_spatial_downs(self) -> int:
    return _log2(self.spatial_compression, 'spatial_compression') - self.haar_levels

  @property
  def num_temporal_downs(self) -> int:
    return _log2(self.temporal_compression, 'temporal_compression') - self.haar_levels

  def down_flags(self, level: int) -> tuple[bool, bool] | None:
    """(spatial, temporal) of `encoder.down.{level}.downsample`; None where there is no module."""
    if level >= self.num_levels - 1:
      return None
    return level < self.num_spatial_downs, level < self.num_temporal_downs

  def up_flags(self, level: int) -> tuple[bool, bool] | None:
    """(spatial, temporal) of `decoder.up.{level}.upsample`; None where there is no module.

    The official rule (legacy_mode=False), with r the level's position in execution order: time
    is up-sampled at 0 < r <= num_temporal_ups; space there too, and at r < num_spatial_ups
    when there are more spatial than temporal ups.
    """
    if level == 0:
      return None
    r = self.num_levels - 1 - level
    temporal = 0 < r < self.num_temporal_downs + 1
    spatial = temporal or (
        r < self.num_spatial_downs and self.num_spatial_downs > self.num_temporal_downs
    )
    return spatial, temporal

  def latent_frames(self, frames: int) -> int:
    """Latent frames for `frames` RGB frames.

    ceil((T - 1) / temporal_compression) + 1 when all the compression is Haar's (DV4x8x8); each
    temporal down-sampling conv then maps t -> floor((t - 1) / 2) + 1 (exact for T = 1 + 8k).
    """
    if frames < 1:
      raise ValueError(f'need at least one frame, got {frames}')
    t = -(-(frames - 1) // self.patch_size) + 1
    for _ in range(self.num_temporal_downs):
      t = (t - 1) // 2 + 1
    return t

  def decoded_frames(self, latent_frames: int) -> int:
    """RGB frames the decoder returns: temporal_compression * (t - 1) + 1."""
    return self.temporal_compression * (latent_frames - 1) + 1
