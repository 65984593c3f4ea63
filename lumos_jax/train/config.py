# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Validated settings of the train step: AR-DF masking, optimizer and loss.

Each dataclass is built from the matching section of an ml_collections config (`from_dict` names
unknown keys) and checks its values, naming the offending field.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from lumos_jax.ardf import MASK_TYPES, schedule


class _Section:
  """`from_dict` for the frozen dataclasses below."""

  SECTION = ''

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]):
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - fields)
    if unknown:
      raise ValueError(f'unknown {cls.SECTION} config keys {unknown}; expected a subset of '
                       f'{sorted(fields)}')
    return cls(**dict(d))

  def _fail(self, field: str, msg: str):
    raise ValueError(f'{self.SECTION}.{field}={getattr(self, field)!r}: {msg}')


@dataclasses.dataclass(frozen=True)
class ARDFConfig(_Section):
  """Training-time masking (spec 6.3-6.5); defaults are the official recipe."""

  SECTION = 'ardf'
  mask_type: str = 'tube'
  schedule: str = 'cosine'
  min_masking_rate: float = 0.7

  def __post_init__(self):
    if self.mask_type not in MASK_TYPES:
      self._fail('mask_type', f'expected one of {MASK_TYPES}')
    schedule(self.schedule, 0.5)  # raises for unknown names
    if not 0.0 <= self.min_masking_rate <= 1.0:
      self._fail('min_masking_rate', 'must lie in [0, 1]')


@dataclasses.dataclass(frozen=True)
class OptimConfig(_Section):
  """AdamW with linear warm-up then constant or cosine decay (spec 6.8 defaults)."""

  SECTION = 'optim'
  learning_rate: float = 5e-5
  min_learning_rate: float = 5e-5
  warmup_steps: int = 0
  decay: str = 'constant'  # or 'cosine' (to min_learning_rate at decay_steps)
  decay_steps: int = 0
  weight_decay: float = 0.1
  b1: float = 0.9
  b2: float = 0.95
  eps: float = 1e-8
  grad_clip_norm: float = 4.0

  def __post_init__(self):
    if self.learning_rate <= 0:
      self._fail('learning_rate', 'must be positive')
    if not 0 <= self.min_learning_rate <= self.learning_rate:
      self._fail('min_learning_rate', f'must lie in [0, learning_rate={self.learning_rate}]')
    if self.warmup_steps < 0:
      self._fail('warmup_steps', 'must be >= 0')
    if self.decay not in ('constant', 'cosine'):
      self._fail('decay', "expected 'constant' or 'cosine'")
    if self.decay == 'cosine' and self.decay_steps <= self.warmup_steps:
      self._fail('decay_steps', f'must exceed warmup_steps={self.warmup_steps} for cosine decay')
    if self.grad_clip_norm <= 0:
      self._fail('grad_clip_norm', 'must be positive')
    for field in ('b1', 'b2'):
      if not 0 <= getattr(self, field) < 1:
        self._fail(field, 'must lie in [0, 1)')


@dataclasses.dataclass(frozen=True)
class LossConfig(_Section):
  """Masked visual cross-entropy settings."""

  SECTION = 'loss'
  chunk_size: int = 256  # positions per LM-head block
  z_loss_weight: float = 0.0
  max_frames: int = 16  # length of the per-frame loss metric

  def __post_init__(self):
    if self.chunk_size < 1:
      self._fail('chunk_size', 'must be positive')
    if self.max_frames < 1:
      self._fail('max_frames', 'must be positive')
    if self.z_loss_weight < 0:
      self._fail('z_loss_weight', 'must be >= 0')
