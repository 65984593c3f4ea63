# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`parse(config) -> Config`: the one place a raw config becomes typed, checked sections.

Every entry point (train, prepare, sample, eval, notebooks) parses once and passes sections down;
no module below reads a ConfigDict. Keys missing from the given config take the base config's
value (lumos_jax/config/base.py); unknown keys, wrong types and out-of-range values raise
`ConfigError` naming the key path, e.g. `config.model.embed_dimm: unknown key; did you mean
embed_dim?`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Mapping

from lumos_jax import sampling
from lumos_jax import vocab as vocab_lib
from lumos_jax.config import base
from lumos_jax.data.config import DataConfig
from lumos_jax.errors import ConfigError
from lumos_jax.model.config import ModelConfig
from lumos_jax.train.config import (
    ARDFConfig,
    CheckpointConfig,
    LossConfig,
    OptimConfig,
    TrainConfig,
)


@dataclasses.dataclass(frozen=True)
class VocabConfig:
  preset: str
  codebook_size: int
  latent_per_grid: int
  rope_strides: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class MeshConfig:
  shape: tuple[int, int, int]
  context: int

  def __post_init__(self):
    if self.shape.count(-1) > 1 or any(s == 0 or s < -1 for s in self.shape):
      raise ValueError(f'mesh.shape={self.shape}: expected positive sizes and at most one -1')
    if self.context < 1:
      raise ValueError(f'mesh.context={self.context}: expected a positive int')


@dataclasses.dataclass(frozen=True)
class SampleConfig:
  """Sampler settings (spec 7.1) and the held-out evaluation of `eval`."""

  steps: int
  cfg_scale: float
  image_cfg_scale: float
  temperature: float
  temperature_mode: str
  history_mask_ratio: float
  mask_given_frames: bool
  top_k: int
  top_p: float
  eval_prompts: int
  batch_size: int
  seed: int

  def __post_init__(self):
    self.sampling()  # raises for bad sampler values, naming sample.<field>
    for field in ('eval_prompts', 'batch_size'):
      if getattr(self, field) < 1:
        raise ValueError(f'sample.{field}={getattr(self, field)}: must be >= 1')

  def sampling(self, frames: int | None = None, **overrides: Any) -> sampling.SamplingConfig:
    """The sampler's config, with non-None `overrides` (e.g. from command-line flags); a 1-frame
    sample (T2I) uses `image_cfg_scale` unless `cfg_scale` is overridden."""
    fields = {f.name for f in dataclasses.fields(sampling.SamplingConfig)}
    values = {k: v for k, v in dataclasses.asdict(self).items() if k in fields}
    if frames == 1:
      values['cfg_scale'] = self.image_cfg_scale
    values.update({k: v for k, v in overrides.items() if v is not None})
    return sampling.SamplingConfig(**values)


@dataclasses.dataclass(frozen=True)
class Config:
  """A parsed config: typed sections, plus the complete plain dict it came from."""

  seed: int
  vocab: vocab_lib.Vocab
  model: ModelConfig
  data: DataConfig
  ardf: ARDFConfig
  loss: LossConfig
  optim: OptimConfig
  train: TrainConfig
  checkpoint: CheckpointConfig
  mesh: MeshConfig
  sample: SampleConfig
  raw: dict = dataclasses.field(repr=False, compare=False)  # JSON-able, every key


_SECTIONS = {
    'vocab': VocabConfig,
    'model': ModelConfig,
    'data': DataConfig,
    'ardf': ARDFConfig,
    'loss': LossConfig,
    'optim': OptimConfig,
    'train': TrainConfig,
    'checkpoint': CheckpointConfig,
    'mesh': MeshConfig,
    'sample': SampleConfig,
}


def _plain(config: Any) -> Any:
  """ConfigDict / FrozenConfigDict / Mapping -> nested dicts (tuples and lists kept)."""
  if hasattr(config, 'to_dict'):
    config = config.to_dict()
  if isinstance(config, Mapping):
    return {k: _plain(v) for k, v in config.items()}
  return config


def _unknown(path: str, key: str, known) -> ConfigError:
  close = difflib.get_close_matches(key, list(known), n=1)
  hint = f'did you mean {close[0]}?' if close else f'expected one of {sorted(known)}'
  return ConfigError(f'{path}.{key}: unknown key; {hint}')


def _merge(defaults: dict, given: Mapping, path: str) -> dict:
  """`defaults` updated with `given`, recursively; unknown keys are errors."""
  out = dict(defaults)
  for key, value in given.items():
    if key not in defaults:
      raise _unknown(path, key, defaults)
    if isinstance(defaults[key], dict):
      if not isinstance(value, Mapping):
        raise ConfigError(f'{path}.{key}: expected a section (mapping), got {value!r}')
      value = _merge(defaults[key], value, f'{path}.{key}')
    out[key] = value
  return out


def _type_name(tp: Any) -> str:
  return getattr(tp, '__name__', None) or str(tp).replace('typing.', '')


def _coerce(value: Any, tp: Any, path: str) -> Any:
  """`value` checked against the annotation `tp` (tuples from lists; int accepted as float)."""
  origin, args = typing.get_origin(tp), typing.get_args(tp)
  if origin in (typing.Union, types.UnionType):
    for option in args:
      try:
        return _coerce(value, option, path)
      except ConfigError:
        continue
    raise ConfigError(f'{path}: expected {_type_name(tp)}, got {value!r}')
  if dataclasses.is_dataclass(tp):
    if not isinstance(value, Mapping):
      raise ConfigError(f'{path}: expected a section (mapping), got {value!r}')
    return _build(tp, value, path)
  if origin is tuple:
    if not isinstance(value, (list, tuple)):
      raise ConfigError(f'{path}: expected a tuple of {_type_name(args[0])}, got {value!r}')
    if len(args) == 2 and args[1] is Ellipsis:
      return tuple(_coerce(v, args[0], f'{path}[{i}]') for i, v in enumerate(value))
    if len(value) != len(args):
      raise ConfigError(f'{path}: expected {len(args)} values, got {value!r}')
    return tuple(_coerce(v, t, f'{path}[{i}]') for i, (v, t) in enumerate(zip(value, args)))
  if tp is type(None):
    if value is not None:
      raise ConfigError(f'{path}: expected None, got {value!r}')
    return None
  ok = {
      bool: isinstance(value, bool),
      int: isinstance(value, int) and not isinstance(value, bool),
      float: isinstance(value, (int, float)) and not isinstance(value, bool),
      str: isinstance(value, str),
  }.get(tp)
  if ok is None:
    raise TypeError(f'{path}: unsupported annotation {tp!r} in the config schema')
  if not ok:
    raise ConfigError(f'{path}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})')
  return float(value) if tp is float else value


def _build(cls: type, values: Mapping[str, Any], path: str, **fixed: Any):
  """`cls(**values)` with every field type-checked; value errors are prefixed with `config.`."""
  hints = typing.get_type_hints(cls)
  fields = {f.name for f in dataclasses.fields(cls) if f.init} - set(fixed)
  for key in values:
    if key not in fields:
      raise _unknown(path, key, fields)
  missing = sorted(
      f.name
      for f in dataclasses.fields(cls)
      if f.name in fields
      and f.name not in values
      and f.default is dataclasses.MISSING
      and f.default_factory is dataclasses.MISSING
  )
  if missing:
    raise ConfigError(f'{path}: missing keys {missing}')
  kwargs = {k: _coerce(v, hints[k], f'{path}.{k}') for k, v in values.items()}
  try:
    return cls(**kwargs, **fixed)
  except ConfigError:
    raise
  except ValueError as e:
    raise ConfigError(
        f'config.{e}' if str(e).startswith(path.split('.')[-1] + '.') else f'{path}: {e}'
    ) from e


def _vocab(section: VocabConfig) -> vocab_lib.Vocab:
  geometry = {
      'codebook_size': section.codebook_size,
      'latent_per_grid': section.latent_per_grid,
      'rope_strides': section.rope_strides,
  }
  geometry = {k: v for k, v in geometry.items() if v}  # 0 / (): the preset's own
  try:
    if section.preset == 'lumos1':
      vocab = vocab_lib.lumos1()
      changed = {k: v for k, v in geometry.items() if v != getattr(vocab, k)}
      if changed:
        raise ValueError(
            f'{changed}: the lumos1 vocabulary is fixed (Cosmos DV4x8x8: 64000 '
            'codes, latent_per_grid 4, rope_strides (4, 8, 8)); use 0 / ()'
        )
      return vocab
    if section.preset == 'demo':
      return vocab_lib.demo(**geometry)
  except ValueError as e:
    raise ConfigError(f'config.vocab: {e}') from e
  raise ConfigError(
      f'config.vocab.preset={section.preset!r}: expected one of {sorted(vocab_lib.PRESETS)}'
  )


def parse(config: Any) -> Config:
  """Typed, checked sections of a ConfigDict (or nested mapping, e.g. a run's config.json)."""
  raw = _merge(_plain(base.get_config()), _plain(config), 'config')
  seed = _coerce(raw['seed'], int, 'config.seed')
  vocab = _vocab(_build(VocabConfig, raw['vocab'], 'config.vocab'))
  sections = {
      name: _build(cls, raw[name], f'config.{name}')
      for name, cls in _SECTIONS.items()
      if name not in ('vocab', 'model')
  }
  model = _build(ModelConfig, raw['model'], 'config.model', vocab_size=vocab.size)
  context, buckets = sections['mesh'].context, sections['data'].length_buckets
  if any(b % context for b in buckets):
    raise ConfigError(
        f'config.data.length_buckets={tuple(buckets)}: with config.mesh.context={context} '
        'every bucket must be a multiple of it (each sequence is split into that many pieces)'
    )
  return Config(seed=seed, vocab=vocab, model=model, raw=raw, **sections)
