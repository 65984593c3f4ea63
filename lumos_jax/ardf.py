# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""AR-DF: masking schedules, training masks and the inference history-mask pattern (spec 6, 7.6).

Training (inside jit, from the step's RNG key): per sample a time t ~ U[0, 1) gives a masking ratio
r = max(schedule(t), min_masking_rate). The maskable positions are the frame contents (codes and
new-lines) of frames that have labels; l is the length of the first frame's content and every
frame is assumed to have that size. Mask types:

* `tube` (the paper's temporal tube masking): exactly max(1, round(l * r)) positions of a random
  spatial pattern, the same pattern in every frame.
* `tube_decay`: the same random order in every frame, the masked count growing linearly from
  max(1, round(l * r)) in the first frame to l in the last (nested masks).
* `diffusion_forcing`: an independent time, ratio and pattern per frame.
* `random`: max(1, round(L_tot * r)) positions drawn over all frames at once.

Masked positions get the mask token as input and keep their label; unmasked maskable positions
lose their label. The loss only sees masked visual codes (masked new-lines are excluded there).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lumos_jax import layout
from lumos_jax.vocab import IGNORE, Vocab

MASK_TYPES = ('tube', 'tube_decay', 'diffusion_forcing', 'random')


def check_schedule(name: str) -> None:
  """Raises ValueError unless `name` is a schedule `schedule` knows (without computing one)."""
  if name in ('cosine', 'linear', 'sigmoid'):
    return
  if name.startswith('pow'):
    try:
      float(name[3:])
      return
    except ValueError:
      raise ValueError(f'ardf.schedule={name!r}: expected pow<number>, e.g. pow2') from None
  raise ValueError(f'ardf.schedule={name!r}: expected cosine, linear, pow<X> or sigmoid')


def schedule(name: str, t: jax.Array) -> jax.Array:
  """Masking ratio for time t in [0, 1): 'cosine', 'linear', 'pow<X>' (e.g. 'pow2') or 'sigmoid'.

  cosine(t) = cos(pi t / 2); linear(t) = 1 - t; pow<X>(t) = 1 - t^X; sigmoid interpolates
  between sigma(-3) and sigma(3). All but cosine are clipped to [1e-6, 1] as in the official code.
  """
  check_schedule(name)
  t = jnp.asarray(t, jnp.float32)
  if name == 'cosine':
    return jnp.cos(jnp.pi / 2 * t)
  if name == 'linear':
    return jnp.clip(1.0 - t, 1e-6, 1.0)
  if name == 'sigmoid':
    start, end = -3.0, 3.0
    lo, hi = jax.nn.sigmoid(start), jax.nn.sigmoid(end)
    return jnp.clip((hi - jax.nn.sigmoid(t * (end - start) + start)) / (hi - lo), 1e-6, 1.0)
  return jnp.clip(1.0 - t ** float(name[3:]), 1e-6, 1.0)  # pow<X>


def maskable_positions(labels: jax.Array, vocab: Vocab) -> jax.Array:
  """bool [B, L]: positions AR-DF may mask, the frame content of labelled frames (spec 6.4).

  See `layout.frame_content`; frames of given context (IGNORE labels) are excluded.
  """
  return layout.frame_content(labels, vocab)


def _ranks(keys: jax.Array) -> jax.Array:
  """Rank of every entry within its row (0 = smallest)."""
  return jnp.argsort(jnp.argsort(keys, axis=-1), axis=-1)


def _round(x: jax.Array) -> jax.Array:
  return jnp.round(x).astype(jnp.int32)  # half to even, like torch.round / Python round


def training_mask(
    key: jax.Array,
    labels: jax.Array,
    vocab: Vocab,
    *,
    mask_type: str = 'tube',
    schedule_name: str = 'cosine',
    min_masking_rate: float = 0.7,
) -> jax.Array:
  """bool [B, L]: positions to replace by the mask token for one training step.

  Args:
    key: PRNG key (derive it from the step so a resumed run draws the same masks).
    labels: int [B, L] labels (IGNORE where there is no target).
    vocab: vocabulary.
    mask_type: one of MASK_TYPES.
    schedule_name: see `schedule`.
    min_masking_rate: lower clip of the per-sample (or per-frame) ratio.
  """
  if mask_type not in MASK_TYPES:
    raise ValueError(f'ardf.mask_type={mask_type!r}: expected one of {MASK_TYPES}')
  batch, length = labels.shape
  maskable = maskable_positions(labels, vocab)
  idx = jnp.arange(length)
  # l: length of the first contiguous run of maskable positions (first frame's content).
  first = jnp.argmax(maskable, axis=-1)[:, None]
  run_end = jnp.min(jnp.where(~maskable & (idx > first), idx, length), axis=-1, keepdims=True)
  ell = jnp.maximum(run_end - first, 1)
  total = maskable.sum(-1, keepdims=True)
  content_idx = jnp.cumsum(maskable, axis=-1) - 1  # order of each maskable position
  local = content_idx % ell  # position inside its frame
  frame = content_idx // ell

  k_time, k_order = jax.random.split(key)
  ratio = lambda t: jnp.maximum(schedule(schedule_name, t), min_masking_rate)
  noise = jax.random.uniform(k_order, (batch, length))

  if mask_type in ('tube', 'tube_decay'):
    r = ratio(jax.random.uniform(k_time, (batch, 1)))
    local_rank = _ranks(jnp.where(idx < ell, noise, 2.0))  # a permutation of [0, l)
    rank = jnp.take_along_axis(local_rank, jnp.clip(local, 0, length - 1), axis=-1)
    count = jnp.maximum(1, _round(ell * r)).astype(jnp.float32)
    if mask_type == 'tube_decay':
      num_frames = -(-total // ell)  # ceil
      step = (ell - count) / jnp.maximum(num_frames - 1, 1)
      count = count + step * frame
    chosen = rank < count
  elif mask_type == 'diffusion_forcing':
    r = ratio(jax.random.uniform(k_time, (batch, length)))  # one time per frame index
    count = jnp.maximum(1, _round(ell * jnp.take_along_axis(r, frame.clip(0), axis=-1)))
    order = _ranks(jnp.where(maskable, frame + noise, jnp.inf))  # grouped by frame
    chosen = order - frame * ell < count
  else:  # random
    r = ratio(jax.random.uniform(k_time, (batch, 1)))
    chosen = _ranks(jnp.where(maskable, noise, 2.0)) < jnp.maximum(1, _round(total * r))
  return maskable & chosen


def apply_mask(
    tokens: jax.Array, labels: jax.Array, mask: jax.Array, vocab: Vocab
) -> tuple[jax.Array, jax.Array]:
  """(inputs, labels): masked positions read the mask token and keep their label; the other
  maskable positions lose their label (spec 6.6)."""
  maskable = maskable_positions(labels, vocab)
  inputs = jnp.where(mask, vocab.mask, tokens)
  labels = jnp.where(maskable & ~mask, IGNORE, labels)
  return inputs, labels


def history_pattern(content_length: int, ratio: float = 0.7) -> np.ndarray:
  """Indices (within a frame's content incl. new-lines) masked in history frames (spec 7.6).

  n = max(1, round(ratio * l)) indices round(j * l / n) for j < n, clipped to [0, l - 1]: a fixed
  periodic pattern starting at 0, identical for every frame and sample.
  """
  if content_length < 1 or not 0 < ratio <= 1:
    raise ValueError(
        f'history pattern needs content_length >= 1 and ratio in (0, 1], got '
        f'{content_length}, {ratio}'
    )
  n = max(1, round(ratio * content_length))
  step = content_length / n
  idx = np.clip(np.round(np.arange(n) * step), 0, content_length - 1).astype(np.int64)
  idx = np.unique(idx)
  if len(idx) < n:  # cannot happen for ratio <= 1 (step >= 1); kept as a loud guard
    raise AssertionError(f'history pattern lost indices: {len(idx)} < {n}')
  return idx


def history_mask(blocks: jax.Array, content_length: int, ratio: float, mask_id: int) -> jax.Array:
  """Applies the history pattern to frame blocks [..., frame length] (header first).

  `content_length` is `layout.frame_content_length(height, width)` of the frames.
  """
  pattern = layout.FRAME_HEADER_LEN + history_pattern(content_length, ratio)
  return blocks.at[..., pattern].set(mask_id)
