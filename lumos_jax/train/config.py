# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Validated settings of training: AR-DF masking, optimizer, loss, the driver and checkpoints.

Each dataclass is one section of the config (built by `lumos_jax.config.parse`, which rejects
unknown keys and wrong types) and checks its values, naming the offending field.
"""

from __future__ import annotations

import dataclasses

from lumos_jax.ardf import MASK_TYPES, check_schedule


class _Section:
  """Error messages that name the section and field."""

  SECTION = ''

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
    check_schedule(self.schedule)
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


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Section):
  """The driver: steps, logging, held-out loss, non-finite guard, profiler window."""

  SECTION = 'train'
  num_steps: int = 1
  log_every: int = 1
  eval_every: int = 0
  eval_batches: int = 1
  eval_split: str = 'heldout'
  max_nonfinite_in_a_row: int = 10
  progress_bar: bool = True
  profile_steps: tuple[int, ...] = ()
  init_from: str = ''  # a run directory whose latest params start this run (init_from.py)

  def __post_init__(self):
    if self.num_steps < 0:
      self._fail('num_steps', 'must be >= 0')
    if self.log_every < 1:
      self._fail('log_every', 'must be >= 1')
    if self.eval_every < 0:
      self._fail('eval_every', 'must be >= 0 (0: never)')
    if self.eval_batches < 1:
      self._fail('eval_batches', 'must be >= 1')
    if self.max_nonfinite_in_a_row < 1:
      self._fail('max_nonfinite_in_a_row', 'must be >= 1')
    if self.profile_steps and (
        len(self.profile_steps) != 2 or not 1 <= self.profile_steps[0] <= self.profile_steps[1]
    ):
      self._fail('profile_steps', 'expected () or (first, last) with 1 <= first <= last')


@dataclasses.dataclass(frozen=True)
class CheckpointConfig(_Section):
  """Orbax checkpoints of the run (lumos_jax/checkpoint.py)."""

  SECTION = 'checkpoint'
  every_steps: int = 1000
  max_to_keep: int = 3
  async_save: bool = True

  def __post_init__(self):
    if self.every_steps < 1:
      self._fail('every_steps', 'must be >= 1')
    if self.max_to_keep < 1:
      self._fail('max_to_keep', 'must be >= 1')
