# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Does a video model use its history? Teacher-forced cross-entropy per frame, history hidden or
shown.

For every clip and frame t, the codes of frame t are masked and scored (cross-entropy of the true
code, nats per token) twice: with every earlier frame masked too ("hidden") and with the earlier
frames as they are ("shown"). Later frames are masked in both (they cannot reach frame t through
the frame-causal attention anyway) and new-lines stay, as in sampling. A model that predicts a
frame from its past scores shown < hidden for t >= 1; frame 0 has no history, so both are equal.

The scores are also given for the non-background codes alone ("object"): the background code of a
frame is its most frequent code. On clips of one object on a plain background most tokens are
background, so the average hides whether the object itself is carried from frame to frame.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import numpy as np

from lumos_jax import layout
from lumos_jax.model import Decoder, logits
from lumos_jax.vocab import Vocab

CONDITIONS = ('hidden', 'shown')


@dataclasses.dataclass(frozen=True)
class ProbeResult:
  """Per-frame mean cross-entropy (nats per code) of the true codes; NaN where nothing is scored."""

  hidden: list[float]
  shown: list[float]
  object_hidden: list[float]
  object_shown: list[float]

  def as_dict(self) -> dict[str, list[float | None]]:
    """Plain lists for JSON, None where nothing was scored."""
    return {
        k: [None if np.isnan(v) else v for v in vals]
        for k, vals in dataclasses.asdict(self).items()
    }

  def format_table(self) -> str:
    lines = [
        '| frame | history hidden | history shown | object, hidden | object, shown |',
        '|---|---|---|---|---|',
    ]
    for t, row in enumerate(zip(self.hidden, self.shown, self.object_hidden, self.object_shown)):
      lines.append(f'| {t} | ' + ' | '.join(f'{v:.3f}' for v in row) + ' |')
    return '\n'.join(lines)


def _batch(items, vocab: Vocab, duration: int, fps: int) -> np.ndarray:
  built = [
      layout.build_item(text, list(codes), vocab, duration=duration, fps=fps).tokens
      for text, codes in items
  ]
  return layout.pad_batch(built, vocab)


def history_probe(
    model: Decoder,
    vocab: Vocab,
    items: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    duration: int,
    fps: int,
    batch_size: int = 16,
) -> ProbeResult:
  """Scores (text ids, int codes [T, Hl, Wl]) clips of equal T; see the module docstring."""
  if not items:
    raise ValueError('history_probe needs at least one clip')
  num_frames = {len(codes) for _, codes in items}
  if len(num_frames) != 1:
    raise ValueError(f'clips must have the same number of frames, got {sorted(num_frames)}')
  num_frames = num_frames.pop()
  sums = {(c, part): np.zeros(num_frames) for c in CONDITIONS for part in ('all', 'object')}
  counts = {part: np.zeros(num_frames) for part in ('all', 'object')}
  for start in range(0, len(items), batch_size):
    chunk = items[start : start + batch_size]
    tokens = _batch(chunk, vocab, duration, fps)
    is_code = (tokens >= vocab.visual_offset) & (tokens < vocab.visual_end)
    frame = np.where(is_code, layout.frame_index(tokens, vocab), -1)  # of each code, else -1
    # Background code of each (clip, frame): its most frequent code.
    background = np.asarray(
        [[np.bincount(f.ravel()).argmax() for f in codes] for _, codes in chunk]
    )
    target = np.where(is_code, tokens - vocab.visual_offset, 0)

    def cross_entropy(masked):
      out = logits(model, np.where(masked, vocab.mask, tokens), vocab)
      logp = jax.nn.log_softmax(out[..., vocab.visual_offset : vocab.visual_end], axis=-1)
      return -np.take_along_axis(np.asarray(logp), target[..., None], axis=-1)[..., 0]

    hidden = cross_entropy(frame >= 0)  # every code masked: the same view for every frame
    for t in range(num_frames):
      scored = frame == t
      is_object = scored & (target != background[:, t : t + 1])
      shown = cross_entropy(frame >= t) if t else hidden  # frame 0 has no history
      for condition, ce in zip(CONDITIONS, (hidden, shown)):
        sums[condition, 'all'][t] += ce[scored].sum()
        sums[condition, 'object'][t] += ce[is_object].sum()
      counts['all'][t] += scored.sum()
      counts['object'][t] += is_object.sum()

  def mean(condition, part):
    with np.errstate(invalid='ignore', divide='ignore'):
      return [float(v) for v in sums[condition, part] / counts[part]]

  return ProbeResult(
      mean('hidden', 'all'), mean('shown', 'all'), mean('hidden', 'object'), mean('shown', 'object')
  )
