# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Token layout of Lumos-1 items and the per-token metadata the model needs.

Layout (spec section 2), for a frame of Hl x Wl latent codes and a video of T frames:

  FRAME = [image_start, grid(Hl), grid(Wl)] ++ (Wl codes ++ [newline]) * Hl ++ [image_end]
  VIDEO = [video_start, grid(duration), grid(fps)] ++ FRAME * T ++ [video_end]
  item  = [bos] ++ text ++ [sep] ++ VIDEO ++ [sep]        (unconditional: VIDEO ++ [sep])

Grid values of a frame header are in units of `vocab.latent_per_grid` latent rows. Labels are
IGNORE for the prompt and equal to the tokens for the video and closing separator.

This module owns the geometry (`FRAME_HEADER_LEN`, `frame_length`, `code_positions`, ...): other
modules call it rather than re-deriving offsets.

The metadata functions (`mm_rope_positions`, `attention_spans`, `segment_ids`) are vectorised over
[L] or [B, L] arrays of right-padded sequences and work on numpy arrays (data pipeline) and on jax
arrays (inside jit, e.g. in the sampler) alike.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from lumos_jax.vocab import IGNORE, Vocab

Array = Any  # np.ndarray or jax.Array

# -----------------------------------------------------------------------------------------------
# Geometry
# -----------------------------------------------------------------------------------------------

# [image_start, grid(h), grid(w)]: a frame states its size before its content, so that positions
# and spans can be read off the tokens alone (spec 2.3); content starts at this offset.
FRAME_HEADER_LEN = 3


def frame_content_length(height: int, width: int) -> int:
  """Tokens of a frame's content: `height` rows of `width` codes and a new-line."""
  return height * (width + 1)


def latent_frames(rgb_frames: int, temporal_compression: int = 1) -> int:
  """Latent frames of `rgb_frames` RGB frames for a causal tokenizer: ceil((T - 1) / c) + 1 (the
  first frame alone, then one latent per c frames; Cosmos DV4x8x8: 25 -> 7, 24 -> 7)."""
  if rgb_frames < 1 or temporal_compression < 1:
    raise ValueError(
        f'need rgb_frames >= 1 and temporal_compression >= 1, got {rgb_frames}, '
        f'{temporal_compression}'
    )
  return -(-(rgb_frames - 1) // temporal_compression) + 1


def frame_length(height: int, width: int) -> int:
  """Tokens of one frame block: header, content and image_end."""
  return FRAME_HEADER_LEN + frame_content_length(height, width) + 1


def code_positions(height: int, width: int) -> np.ndarray:
  """Indices, within a frame block, of its height * width visual codes (row-major, no new-lines)."""
  rows = np.arange(frame_content_length(height, width)).reshape(height, width + 1)
  return FRAME_HEADER_LEN + rows[:, :width].reshape(-1)


def pad_batch(
    sequences: Sequence[Array], vocab: Vocab, length: int | None = None, fill: int | None = None
) -> np.ndarray:
  """int32 [B, length]: 1-D sequences right-padded with `vocab.pad`, or `fill` (IGNORE for labels).

  `length` defaults to the longest sequence; a longer sequence raises ValueError naming its row.
  """
  sequences = [np.asarray(s) for s in sequences]
  for i, s in enumerate(sequences):
    if s.ndim != 1:
      raise ValueError(f'row {i}: expected a 1-D sequence, got shape {s.shape}')
  if length is None:
    length = max((len(s) for s in sequences), default=0)
  out = np.full((len(sequences), length), vocab.pad if fill is None else fill, np.int32)
  for i, s in enumerate(sequences):
    if len(s) > length:
      raise ValueError(f'row {i} has {len(s)} tokens, more than length={length}')
    out[i, : len(s)] = s
  return out


# -----------------------------------------------------------------------------------------------
# Building sequences
# -----------------------------------------------------------------------------------------------


def _grid_units(latents: int, vocab: Vocab, what: str) -> int:
  if latents <= 0 or latents % vocab.latent_per_grid:
    raise ValueError(
        f'frame {what} of {latents} latents is not a positive multiple of '
        f'Vocab.latent_per_grid={vocab.latent_per_grid}'
    )
  return latents // vocab.latent_per_grid


def frame_header(height: int, width: int, vocab: Vocab) -> list[int]:
  """[image_start, grid(h), grid(w)] for a frame of height x width latents."""
  return [
      vocab.image_start,
      vocab.grid_token(_grid_units(height, vocab, 'height')),
      vocab.grid_token(_grid_units(width, vocab, 'width')),
  ]


def frame_block(codes: Array, vocab: Vocab) -> np.ndarray:
  """Token block of one frame from its [Hl, Wl] visual codes (values in [0, codebook_size))."""
  codes = np.asarray(codes)
  if codes.ndim != 2:
    raise ValueError(f'frame codes must be [Hl, Wl], got shape {codes.shape}')
  if codes.size and (codes.min() < 0 or codes.max() >= vocab.codebook_size):
    raise ValueError(
        f'frame codes must lie in [0, {vocab.codebook_size}) (Vocab.codebook_size), got range '
        f'[{codes.min()}, {codes.max()}]'
    )
  h, w = codes.shape
  rows = np.concatenate(
      [vocab.code_to_id(codes.astype(np.int64)), np.full((h, 1), vocab.newline)], axis=1
  )
  return np.concatenate([frame_header(h, w, vocab), rows.reshape(-1), [vocab.image_end]]).astype(
      np.int32
  )


def masked_frame_block(height: int, width: int, vocab: Vocab) -> np.ndarray:
  """A frame whose codes are all mask tokens and whose new-lines are given (inference)."""
  rows = np.full((height, width + 1), vocab.mask, np.int32)
  rows[:, -1] = vocab.newline
  return np.concatenate(
      [frame_header(height, width, vocab), rows.reshape(-1), [vocab.image_end]]
  ).astype(np.int32)


def video_header(duration: int, fps: int, vocab: Vocab) -> list[int]:
  """[video_start, grid(duration), grid(fps)]: RGB duration in seconds, then RGB fps."""
  return [vocab.video_start, vocab.grid_token(duration), vocab.grid_token(fps)]


def video_block(frames: Sequence[Array], duration: int, fps: int, vocab: Vocab) -> np.ndarray:
  """Token block of a video from its latent frames (each [Hl, Wl] codes)."""
  parts = [video_header(duration, fps, vocab)]
  parts += [frame_block(f, vocab) for f in frames]
  parts.append([vocab.video_end])
  return np.concatenate(parts).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class Item:
  """A training item: tokens and labels (IGNORE where there is no target), both int32 [L]."""

  tokens: np.ndarray
  labels: np.ndarray


def _check_text(text_ids: Array, vocab: Vocab) -> np.ndarray:
  text = np.asarray(text_ids, dtype=np.int64).reshape(-1)
  bad = (text < vocab.text_start) | (text >= vocab.text_end)
  if bad.any():
    i = int(np.argmax(bad))
    raise ValueError(
        f'text id {text[i]} at index {i} is outside the text range '
        f'[{vocab.text_start}, {vocab.text_end})'
    )
  return text


def build_item(
    text_ids: Array,
    frames: Sequence[Array],
    vocab: Vocab,
    *,
    duration: int,
    fps: int,
    num_given_frames: int = 0,
    unconditional: bool = False,
) -> Item:
  """Lays out a text-to-video item (T2I is a one-frame video with duration = fps = 1).

  Args:
    text_ids: prompt token ids (without BOS / separator).
    frames: latent frames, each int [Hl, Wl] codes.
    vocab: vocabulary.
    duration, fps: RGB duration (seconds) and fps written in the video header.
    num_given_frames: the first k frames are context (image-to-video / next-frame training):
      they and the video header get IGNORE labels.
    unconditional: drop BOS, prompt and first separator (CFG text dropout, spec 6.1 step 5).

  Returns:
    Item with tokens and labels.
  """
  if not 0 <= num_given_frames <= len(frames):
    raise ValueError(f'num_given_frames={num_given_frames} not in [0, {len(frames)}]')
  prompt = np.concatenate([[vocab.bos], _check_text(text_ids, vocab), [vocab.sep]])
  header = np.asarray(video_header(duration, fps, vocab))
  blocks = [frame_block(f, vocab) for f in frames]
  tail = np.asarray([vocab.video_end, vocab.sep])
  tokens = [header, *blocks, tail]
  labels = [header.copy(), *(b.copy() for b in blocks), tail.copy()]
  if num_given_frames:
    labels[0][:] = IGNORE
    for b in labels[1 : 1 + num_given_frames]:
      b[:] = IGNORE
  if not unconditional:
    tokens.insert(0, prompt)
    labels.insert(0, np.full(prompt.shape, IGNORE))
  return Item(np.concatenate(tokens).astype(np.int32), np.concatenate(labels).astype(np.int32))


def t2i_item(text_ids: Array, codes: Array, vocab: Vocab, **kw) -> Item:
  """Text-to-image item: a one-frame video with duration = fps = 1 (spec 2.5)."""
  return build_item(text_ids, [codes], vocab, duration=1, fps=1, **kw)


def generation_prompt(
    text_ids: Array,
    vocab: Vocab,
    *,
    duration: int,
    fps: int,
    given_frames: Sequence[Array] = (),
    unconditional: bool = False,
) -> np.ndarray:
  """Inference prompt: [bos] text [sep] [video_start, D, F] (++ given frames for I2V).

  Generated frames are appended after it; the unconditional (CFG) prompt starts at video_start.
  """
  parts = [video_header(duration, fps, vocab)] + [frame_block(f, vocab) for f in given_frames]
  if not unconditional:
    parts.insert(0, np.concatenate([[vocab.bos], _check_text(text_ids, vocab), [vocab.sep]]))
  return np.concatenate(parts).astype(np.int32)


# -----------------------------------------------------------------------------------------------
# Parsing
# -----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParsedVideo:
  """A video read back from a token sequence."""

  text: np.ndarray  # prompt ids between BOS and the first separator (empty if unconditional)
  duration: int
  fps: int
  frames: list[np.ndarray]  # each int32 [Hl, Wl] codes
  complete: bool  # True if the video_end token was found


def parse_video(tokens: Array, vocab: Vocab) -> ParsedVideo:
  """Parses the last video of a sequence back into codes; raises ValueError on malformed input."""
  seq = np.asarray(tokens, dtype=np.int64).reshape(-1)
  starts = np.flatnonzero(seq == vocab.video_start)
  if not len(starts):
    raise ValueError('no video_start token in the sequence')
  vs = int(starts[-1])
  text = np.zeros((0,), np.int32)
  if vs > 0 and seq[0] == vocab.bos:
    seps = np.flatnonzero(seq[:vs] == vocab.sep)
    text = seq[1 : seps[0] if len(seps) else vs].astype(np.int32)

  def expect(i: int, what: str, ok: bool):
    if not ok:
      got = int(seq[i]) if i < len(seq) else 'end of sequence'
      raise ValueError(f'token {i}: expected {what}, got {got}')

  for k in (1, 2):
    expect(vs + k, 'a grid token (video header)', vs + k < len(seq) and vocab.is_grid(seq[vs + k]))
  duration = int(vocab.grid_value(seq[vs + 1]))
  fps = int(vocab.grid_value(seq[vs + 2]))
  i, frames, complete = vs + 3, [], False
  while i < len(seq):
    if seq[i] == vocab.video_end:
      complete = True
      break
    if seq[i] != vocab.image_start:
      break  # padding or trailing tokens of an unfinished video
    for k in (1, 2):
      expect(i + k, 'a grid token (frame header)', i + k < len(seq) and vocab.is_grid(seq[i + k]))
    h = int(vocab.grid_value(seq[i + 1])) * vocab.latent_per_grid
    w = int(vocab.grid_value(seq[i + 2])) * vocab.latent_per_grid
    start, end = i + FRAME_HEADER_LEN, i + FRAME_HEADER_LEN + frame_content_length(h, w)
    expect(end, 'image_end', end < len(seq) and seq[end] == vocab.image_end)
    rows = seq[start:end].reshape(h, w + 1)
    bad_nl = np.flatnonzero(rows[:, -1] != vocab.newline)
    if len(bad_nl):
      expect(start + int(bad_nl[0]) * (w + 1) + w, 'newline', False)
    codes = rows[:, :-1]
    bad = ~vocab.is_visual(codes)
    if bad.any():
      r, c = np.argwhere(bad)[0]
      expect(start + int(r) * (w + 1) + int(c), 'a visual code', False)
    frames.append(vocab.id_to_code(codes).astype(np.int32))
    i += frame_length(h, w)
  return ParsedVideo(text, duration, fps, frames, complete)


# -----------------------------------------------------------------------------------------------
# Vectorised metadata
# -----------------------------------------------------------------------------------------------


@flax.struct.dataclass
class Positions:
  """MM-RoPE positions, each int32 (bool for is_visual) shaped like the tokens."""

  text: Array  # 1-D position (sequence index) used by every non-visual token
  t: Array
  h: Array
  w: Array
  is_visual: Array  # frame content incl. new-lines: uses (t, h, w) instead of text

  def __getitem__(self, index) -> 'Positions':
    return jax.tree.map(lambda x: x[index], self)


def _xp(tokens: Array):
  return jnp if isinstance(tokens, jax.Array) else np


def _cummax(x: Array, xp) -> Array:
  if xp is np:
    return np.maximum.accumulate(x, axis=-1)
  return jax.lax.cummax(x, axis=x.ndim - 1)


def _rev_cummin(x: Array, xp) -> Array:
  if xp is np:
    return np.minimum.accumulate(x[..., ::-1], axis=-1)[..., ::-1]
  return jax.lax.cummin(x, axis=x.ndim - 1, reverse=True)


def _take(x: Array, idx: Array, xp) -> Array:
  return xp.take_along_axis(x, idx, axis=-1)


def mm_rope_positions(tokens: Array, vocab: Vocab) -> Positions:
  """Per-token MM-RoPE positions (spec 3.3) for [L] or [B, L] right-padded token ids.

  A frame opened by image_start at index j has Hl x Wl latents read from its grid tokens; the
  Hl * (Wl + 1) tokens from j + 3 on (codes and new-lines, whatever their values, e.g. masks) are
  visual content with t = st * frame_index + P0, h = sh * row + P0, w = sw * column + P0, where P0
  is the index of the first content token of the sequence. All other tokens use text = index.
  """
  xp = _xp(tokens)
  tokens = xp.asarray(tokens).astype(xp.int32)
  length = tokens.shape[-1]
  idx = xp.broadcast_to(xp.arange(length, dtype=xp.int32), tokens.shape)
  is_start = tokens == vocab.image_start
  start = _cummax(xp.where(is_start, idx, -1), xp)  # index of the most recent image_start
  j = xp.maximum(start, 0)
  grid_h = _take(tokens, xp.minimum(j + 1, length - 1), xp)
  grid_w = _take(tokens, xp.minimum(j + 2, length - 1), xp)
  header_ok = (start >= 0) & (j + 2 < length) & vocab.is_grid(grid_h) & vocab.is_grid(grid_w)
  rows = vocab.grid_value(grid_h) * vocab.latent_per_grid
  row_len = vocab.grid_value(grid_w) * vocab.latent_per_grid + 1  # codes + new-line
  offset = idx - (j + FRAME_HEADER_LEN)
  is_visual = header_ok & (offset >= 0) & (offset < rows * row_len)
  row_len = xp.maximum(row_len, 1)
  frame = xp.cumsum(is_start.astype(xp.int32), axis=-1) - 1
  any_visual = is_visual.any(axis=-1, keepdims=True)
  p0 = xp.where(any_visual, xp.argmax(is_visual, axis=-1)[..., None], 0).astype(xp.int32)
  st, sh, sw = vocab.rope_strides

  def axis(value):
    return xp.where(is_visual, value + p0, idx).astype(xp.int32)

  return Positions(
      text=idx.astype(xp.int32),
      t=axis(st * frame),
      h=axis(sh * (offset // row_len)),
      w=axis(sw * (offset % row_len)),
      is_visual=is_visual,
  )


def frame_membership(tokens: Array, vocab: Vocab) -> tuple[Array, Array]:
  """(in_frame, frame_id) per token, exactly as the official mask defines them (spec 5).

  A token is in a frame if it lies between an image_start and its image_end (both included) and,
  when the sequence holds a complete video, inside that video's span.
  """
  xp = _xp(tokens)
  tokens = xp.asarray(tokens)

  def inside(open_id, close_id):
    is_open, is_close = tokens == open_id, tokens == close_id
    opened = xp.cumsum(is_open.astype(xp.int32), axis=-1)
    closed = xp.cumsum(is_close.astype(xp.int32), axis=-1)
    return (opened > closed) | is_open | is_close, opened

  in_frame, frame_id = inside(vocab.image_start, vocab.image_end)
  in_video, _ = inside(vocab.video_start, vocab.video_end)
  has_video = (tokens == vocab.video_start).any(-1, keepdims=True) & (
      tokens == vocab.video_end
  ).any(-1, keepdims=True)
  in_frame = in_frame & (in_video | ~has_video)
  return in_frame, frame_id


def frame_index(tokens: Array, vocab: Vocab) -> Array:
  """Latent frame index of every position (-1 before the first frame), int32 like tokens."""
  xp = _xp(tokens)
  return xp.cumsum(xp.asarray(tokens) == vocab.image_start, axis=-1, dtype=xp.int32) - 1


def _shift(x: Array, n: int, xp) -> Array:
  """x moved n places right along the last axis, False shifted in."""
  pad = xp.zeros(x.shape[:-1] + (n,), bool)
  return xp.concatenate([pad, x], axis=-1)[..., : x.shape[-1]]


def frame_content(labels_or_tokens: Array, vocab: Vocab) -> Array:
  """bool, shaped like the input: frame content (codes and new-lines) of its frames (spec 6.4).

  Frame headers, image_end and separators are excluded. On labels, frames of given context
  (IGNORE labels) are not frames at all, so this is what AR-DF may mask and the loss may see.
  """
  xp = _xp(labels_or_tokens)
  ids = xp.asarray(labels_or_tokens)
  in_frame, _ = frame_membership(ids, vocab)
  is_start = ids == vocab.image_start
  header = is_start
  for n in range(1, FRAME_HEADER_LEN):
    header = header | _shift(is_start, n, xp)
  return in_frame & ~header & (ids != vocab.image_end) & (ids != vocab.sep)


def attention_spans(tokens: Array, vocab: Vocab, frame_bidirectional: bool = True) -> Array:
  """For each query, the last key index it may attend to (int32, shaped like tokens).

  Text and other non-frame tokens are causal (span = own index). Every token of a frame, from
  image_start to image_end inclusive, sees up to its frame's image_end (bidirectional within the
  frame, causal across frames). With `frame_bidirectional=False` everything is plainly causal
  (the paper's ablation). Key j is visible to query i iff j <= span[i].
  """
  xp = _xp(tokens)
  tokens = xp.asarray(tokens)
  length = tokens.shape[-1]
  idx = xp.broadcast_to(xp.arange(length, dtype=xp.int32), tokens.shape)
  if not frame_bidirectional:
    return idx
  in_frame, frame_id = frame_membership(tokens, vocab)
  pad_false = xp.zeros(tokens.shape[:-1] + (1,), dtype=bool)
  next_in = xp.concatenate([in_frame[..., 1:], pad_false], axis=-1)
  next_id = xp.concatenate(
      [frame_id[..., 1:], xp.full_like(pad_false, -1, dtype=frame_id.dtype)], -1
  )
  run_end = in_frame & (~next_in | (next_id != frame_id))
  end = _rev_cummin(xp.where(run_end, idx, length), xp)
  return xp.where(in_frame, xp.minimum(end, length - 1), idx).astype(xp.int32)


def segment_ids(tokens: Array, vocab: Vocab) -> Array:
  """1 for real tokens, 0 for right padding (trailing pad ids), shaped like tokens."""
  xp = _xp(tokens)
  tokens = xp.asarray(tokens)
  length = tokens.shape[-1]
  idx = xp.arange(length, dtype=xp.int32)
  last = xp.max(xp.where(tokens != vocab.pad, idx, -1), axis=-1, keepdims=True)
  return (idx <= last).astype(xp.int32)
