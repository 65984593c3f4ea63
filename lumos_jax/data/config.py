# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The typed `data` section: what to prepare (source, sizes, tokenizer) and how to batch it.

Built by `lumos_jax.config.parse` from the config's `data` section (keys and comments in
lumos_jax/config/base.py); every check of a data setting lives here.
"""

from __future__ import annotations

import dataclasses

from lumos_jax.data import synthetic

SOURCES = ('synthetic', 'user')
MASKING_MODES = ('text_to_video', 'video_next_frame')
CFG_MODES = ('text_only', 'text_and_video')
ON_BAD_ITEM = ('error', 'skip')


VISUAL_TOKENIZERS = ('patch_vq', 'cosmos')
COSMOS_DTYPES = ('bfloat16', 'float32')


@dataclasses.dataclass(frozen=True)
class TokenizerConfig:
  """The visual tokenizer: the demo patch VQ fitted during `prepare`, or a converted Cosmos DV."""

  kind: str
  path: str
  dtype: str
  patch_size: int
  iters: int
  fit_items: int


@dataclasses.dataclass(frozen=True)
class UserConfig:
  """A user folder of videos/images and its caption file (docs/data.md)."""

  root: str
  captions: str
  crop_target: int  # 0, or the official crop list's target size (spec 8.2)

  def __post_init__(self):
    if self.crop_target and self.crop_target < 32:
      raise ValueError(
          f'data.user.crop_target={self.crop_target}: expected 0 (crop to data.size) or a '
          'target size >= 32 (352: 256p, 528: 384p)'
      )


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """See lumos_jax/config/base.py for the meaning of every field."""

  dir: str
  source: str
  seed: int
  placement: str
  num_train: int
  num_heldout: int
  num_train_images: int
  num_heldout_images: int
  frames: int
  size: int | tuple[int, int]
  fps: int
  max_text_tokens: int
  text_tokenizer: str
  tokenizer: TokenizerConfig
  user: UserConfig
  num_shards: int
  on_bad_item: str
  commit_every: int
  batch_size: int
  fps_duration: tuple[tuple[int, int], ...]
  masking_modes: tuple[str, ...]
  num_given_frames: int
  cfg_dropout: float
  cfg_modes: tuple[str, ...]
  image_fraction: float
  length_buckets: tuple[int, ...]
  prompt_template: str
  shuffle: bool
  read_threads: int
  prefetch: int

  def __post_init__(self):
    def fail(field: str, msg: str):
      raise ValueError(f'data.{field}={getattr(self, field)!r}: {msg}')

    if self.source not in SOURCES:
      fail('source', f'expected one of {SOURCES}')
    if self.placement not in synthetic.PLACEMENTS:
      fail('placement', f'expected one of {list(synthetic.PLACEMENTS)}')
    if self.on_bad_item not in ON_BAD_ITEM:
      fail('on_bad_item', f'expected one of {ON_BAD_ITEM}')
    for field in ('frames', 'fps', 'max_text_tokens', 'batch_size', 'commit_every'):
      if getattr(self, field) < 1:
        fail(field, 'must be >= 1')
    for field in (
        'num_train',
        'num_heldout',
        'num_train_images',
        'num_heldout_images',
        'num_shards',
        'read_threads',
        'prefetch',
    ):
      if getattr(self, field) < 0:
        fail(field, 'must be >= 0')
    tk = self.tokenizer

    def fail_tokenizer(field: str, msg: str):
      raise ValueError(f'data.tokenizer.{field}={getattr(tk, field)!r}: {msg}')

    if tk.kind not in VISUAL_TOKENIZERS:
      fail_tokenizer('kind', f'expected one of {VISUAL_TOKENIZERS}')
    if tk.dtype not in COSMOS_DTYPES:
      fail_tokenizer('dtype', f'expected one of {COSMOS_DTYPES}')
    for field, low in (('patch_size', 1), ('iters', 0), ('fit_items', 1)):
      if getattr(tk, field) < low:
        fail_tokenizer(field, f'must be >= {low}')
    sizes = (self.size,) if isinstance(self.size, int) else self.size
    multiple = tk.patch_size if tk.kind == 'patch_vq' else 8  # Cosmos DV: x8 in space
    if min(sizes) < 1 or any(s % multiple for s in sizes):
      fail('size', f"must be positive multiples of the visual tokenizer's {multiple} px")
    if not self.fps_duration:
      fail('fps_duration', 'give at least one (fps, duration) pair')
    for fps, duration in self.fps_duration:
      if min(fps, duration) < 1:
        fail('fps_duration', f'entry {(fps, duration)}: expected (fps, duration) >= 1')
    for field, allowed in (('masking_modes', MASKING_MODES), ('cfg_modes', CFG_MODES)):
      values = getattr(self, field)
      if not values or any(v not in allowed for v in values):
        fail(field, f'expected a non-empty subset of {allowed}')
    if not 0 <= self.cfg_dropout <= 1:
      fail('cfg_dropout', 'expected a probability')
    if not 0 <= self.image_fraction <= 1:
      fail('image_fraction', 'expected a fraction in [0, 1]')
    if 'video_next_frame' in self.masking_modes:
      shortest = min(f * d for f, d in self.fps_duration)
      if not 0 < self.num_given_frames < shortest:
        fail(
            'num_given_frames',
            f'video_next_frame needs 1 <= k < {shortest} (the shortest fps * duration choice)',
        )
    buckets = self.length_buckets
    if not buckets or list(buckets) != sorted(set(buckets)) or buckets[0] < 1:
      fail('length_buckets', 'expected increasing positive lengths')

  @property
  def height_width(self) -> tuple[int, int]:
    """The stored frame size (height, width) in pixels."""
    return (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
