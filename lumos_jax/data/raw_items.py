# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The items `prepare` encodes: listed up front in record order, loaded one by one when needed.

`Source(data).plan` numbers every item of the data set (n = 0, 1, ...): per split ('train', then
'heldout'), videos before images, in generation order (synthetic) or the captions file's order
(user folder). Listing reads no media, so every process of a data-parallel `prepare` computes the
same plan cheaply and loads only its own share (`Source.load`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
from absl import logging

from lumos_jax.data import synthetic, user_source
from lumos_jax.data.config import DataConfig

SPLITS = ('train', 'heldout')


@dataclasses.dataclass(frozen=True)
class Planned:
  """One item of the plan; `ref` is what `Source.load` needs (synthetic index or user entry)."""

  n: int
  split: str
  kind: str  # 'video' | 'image'
  ref: Any


@dataclasses.dataclass
class RawItem:
  id: str
  caption: str
  video: np.ndarray  # uint8 [T, H, W, 3]
  fps: int
  attributes: str  # JSON


class Source:
  """The plan of a data section's items and their loader.

  `skipped` holds the caption-file lines rejected while listing (only with on_bad_item='skip':
  otherwise they raise `user_source.SourceError`); items whose media fail later are counted in
  the parts' manifests (pretokenize.py).
  """

  def __init__(self, data: DataConfig):
    self.data = d = data
    self.skipped: list[str] = []
    self.plan: list[Planned] = []
    if d.source == 'synthetic':
      counts = {
          'train': (d.num_train, d.num_train_images),
          'heldout': (d.num_heldout, d.num_heldout_images),
      }
      for split in SPLITS:
        for kind, num in zip(('video', 'image'), counts[split]):
          for i in range(num):
            self._add(split, kind, i)
      return
    found, skipped = user_source.entries(
        d.user.root, d.user.captions, skip_bad=d.on_bad_item == 'skip'
    )
    for reason in skipped:
      logging.warning('prepare: skipping bad caption line: %s', reason)
    self.skipped = skipped
    for split in SPLITS:
      for kind in ('video', 'image'):
        for e in found:
          if e.split == split and e.is_image == (kind == 'image'):
            self._add(split, kind, e)

  def _add(self, split: str, kind: str, ref: Any) -> None:
    self.plan.append(Planned(len(self.plan), split, kind, ref))

  def load(self, item: Planned) -> RawItem:
    """The item's clip (uint8 [T, H, W, 3]); `user_source.SourceError` for a bad media file."""
    d = self.data
    if d.source == 'synthetic':
      t, fps = (d.frames, d.fps) if item.kind == 'video' else (1, 1)
      ex = synthetic.example(
          item.ref, d.seed, item.split, frames=t, size=d.size, fps=fps, placement=d.placement
      )
      attributes = dict(dataclasses.asdict(ex.attributes), kind=item.kind)
      return RawItem(
          f'{item.split}/{item.kind}/{item.ref:06d}',
          ex.caption,
          ex.video,
          ex.fps,
          json.dumps(attributes),
      )
    entry = item.ref
    video, fps = user_source.load(
        entry, frames=d.frames, fps=d.fps, size=d.size, crop_target=d.user.crop_target
    )
    return RawItem(
        entry.relpath,
        entry.caption,
        video,
        fps,
        json.dumps({'kind': item.kind, 'path': entry.relpath}),
    )

  def fit_videos(self, count: int) -> list[np.ndarray]:
    """The first `count` loadable train clips (videos first), to fit the patch VQ on."""
    out = []
    for item in self.plan:
      if len(out) >= count or item.split != 'train':
        break
      try:
        out.append(self.load(item).video)
      except user_source.SourceError:
        if self.data.on_bad_item != 'skip':
          raise
    return out
