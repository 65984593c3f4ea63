# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Reads colour, shape and motion direction of the single object of a synthetic clip from pixels.

The background is the most frequent colour on the frame border; the object is every pixel far from
it. Colour: the palette entry nearest to the object's mean colour. Shape: how much of its bounding
box the object fills (square ~1, circle ~pi/4, triangle ~1/2), by majority over the frames, ties to
the earliest frame. Direction: the dominant axis and sign of the centroid's displacement from the
first to the last frame (None when it barely moves).
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from lumos_jax.data import synthetic

ATTRIBUTES = ('colour', 'shape', 'direction')
_PALETTE_NAMES = tuple(synthetic.COLOURS)
_PALETTE = np.asarray([synthetic.COLOURS[c] for c in _PALETTE_NAMES], np.float32)
_OBJECT_DISTANCE = 60.0  # RGB distance from the background that counts as object
_MIN_PIXELS = 4  # fewer object pixels in a frame: the frame shows no object


@dataclasses.dataclass(frozen=True)
class Reading:
  colour: str | None
  shape: str | None
  direction: str | None


def _background(video: np.ndarray) -> np.ndarray:
  border = np.concatenate([video[:, 0], video[:, -1], video[:, :, 0], video[:, :, -1]], axis=1)
  colours, counts = np.unique(border.reshape(-1, 3), axis=0, return_counts=True)
  return colours[np.argmax(counts)].astype(np.float32)


def _shape(mask: np.ndarray) -> str | None:
  ys, xs = np.nonzero(mask)
  if len(ys) < _MIN_PIXELS:
    return None
  box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
  fill = len(ys) / box
  if fill > 0.9:
    return 'square'
  if fill > 0.64:
    return 'circle'
  return 'triangle'


def read(video: np.ndarray, min_motion: float = 0.05) -> Reading:
  """Analyses a uint8 [T, H, W, 3] clip; min_motion is the smallest displacement (in frame
  sizes) counted as motion."""
  video = np.asarray(video)
  if video.ndim != 4 or video.shape[-1] != 3:
    raise ValueError(f'expected a [T, H, W, 3] video, got shape {video.shape}')
  pixels = video.astype(np.float32)
  mask = np.linalg.norm(pixels - _background(video), axis=-1) > _OBJECT_DISTANCE  # [T, H, W]
  if mask.sum() < _MIN_PIXELS:
    return Reading(None, None, None)
  mean = pixels[mask].mean(0)
  colour = _PALETTE_NAMES[int(np.argmin(np.linalg.norm(_PALETTE - mean, axis=-1)))]
  shapes = [s for s in (_shape(m) for m in mask) if s is not None]
  # The most frequent per-frame shape; a tie goes to the one seen first (never to set order,
  # which follows string hashing and changes from process to process).
  shape = collections.Counter(shapes).most_common(1)[0][0] if shapes else None
  visible = [t for t in range(len(mask)) if mask[t].sum() >= _MIN_PIXELS]
  direction = None
  if len(visible) >= 2:

    def centroid(t):
      ys, xs = np.nonzero(mask[t])
      return np.array([xs.mean(), ys.mean()])

    dx, dy = (centroid(visible[-1]) - centroid(visible[0])) / min(video.shape[1:3])
    if max(abs(dx), abs(dy)) >= min_motion:
      if abs(dx) >= abs(dy):
        direction = 'right' if dx > 0 else 'left'
      else:
        direction = 'down' if dy > 0 else 'up'
  return Reading(colour, shape, direction)


def score(videos, attributes) -> dict[str, float]:
  """Accuracy per attribute and overall (all read correctly) over paired videos / Attributes.

  Direction is only scored for moving objects; images (direction None) count as correct when the
  analyzer sees no motion.
  """
  hits = {name: [] for name in ATTRIBUTES}
  overall = []
  for video, truth in zip(videos, attributes, strict=True):
    reading = read(video)
    row = [getattr(reading, name) == getattr(truth, name) for name in ATTRIBUTES]
    for name, ok in zip(ATTRIBUTES, row):
      hits[name].append(ok)
    overall.append(all(row))
  result = {name: float(np.mean(v)) if v else 0.0 for name, v in hits.items()}
  result['overall'] = float(np.mean(overall)) if overall else 0.0
  return result
