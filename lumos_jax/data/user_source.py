# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""A user data source: a folder of videos and images plus a captions file.

The captions file (JSONL or CSV, path relative to the folder) has one entry per item:

  {"path": "clips/cat.mp4", "caption": "a cat jumps", "split": "train"}     (JSONL)
  path,caption,split                                                       (CSV header)

`text` is accepted for `caption` (the official pre-tokenisation CSVs use `path,text`); `split` is
optional (default 'train'; 'heldout' items are written to the held-out split). Paths are relative
to the folder.

Videos (mp4, mov, webm, mkv, avi) become clips of exactly `frames` frames at `fps`, taken as the
official pre-tokenisation does (spec 8.1): step = int(source fps / fps), a window centred in the
clip, frames at absolute indices that are multiples of the step. Images (png, jpg, jpeg, webp,
bmp) become one-frame items. Every frame is centre-cropped to the target aspect ratio and resized
(bicubic) to `size`, or with `data.user.crop_target` to the official crop size that best fits the
item's aspect ratio (spec 8.2), so that items keep their ratio (the stored latent grid says which).

Problems raise `SourceError` naming the captions file, the line and what was expected (or, with
`on_bad_item='skip'` in `prepare`, are counted and logged).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import pathlib

import numpy as np

from lumos_jax import errors

VIDEO_SUFFIXES = ('.mp4', '.mov', '.webm', '.mkv', '.avi')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.webp', '.bmp')
SPLITS = ('train', 'heldout')


class SourceError(errors.UserError):
  """A bad entry of a user source: names the captions file, the line and the problem."""


@dataclasses.dataclass(frozen=True)
class Entry:
  """One line of the captions file."""

  path: pathlib.Path  # absolute path of the media file
  relpath: str  # as written in the captions file: the item id
  caption: str
  split: str
  where: str  # 'captions.jsonl:3' for error messages

  @property
  def is_image(self) -> bool:
    return self.path.suffix.lower() in IMAGE_SUFFIXES


def _entry(root: pathlib.Path, row: dict, where: str) -> Entry:
  if not isinstance(row, dict):
    raise SourceError(f'{where}: expected an object with "path" and "caption", got {row!r:.80}')
  rel = row.get('path', row.get('file'))
  if not isinstance(rel, str) or not rel:
    raise SourceError(f'{where}: "path" must be a non-empty string, got {rel!r:.80}')
  caption = row.get('caption', row.get('text'))
  if not isinstance(caption, str) or not caption.strip():
    raise SourceError(
        f'{where}: caption of {rel} must be non-empty text, got {type(caption).__name__} '
        f'{caption!r:.80}'
    )
  split = row.get('split') or 'train'
  if split not in SPLITS:
    raise SourceError(f'{where}: split {split!r} of {rel}, expected one of {SPLITS}')
  path = (root / rel).resolve()
  suffix = path.suffix.lower()
  if suffix not in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
    raise SourceError(
        f'{where}: {rel} has an unsupported extension {suffix!r}; expected one of '
        f'{VIDEO_SUFFIXES + IMAGE_SUFFIXES}'
    )
  return Entry(path, rel, caption, split, where)


def read_captions(root: str | pathlib.Path, captions: str) -> list[tuple[str, dict | Exception]]:
  """Rows of the captions file as (where, row) or (where, SourceError) for unparsable lines.

  Raises SourceError if the file itself is missing, not UTF-8 or of an unknown kind.
  """
  path = pathlib.Path(root) / captions
  if not path.is_file():
    raise SourceError(f'captions file {path} not found (config data.user.captions)')
  try:
    text = path.read_text(encoding='utf-8')
  except UnicodeDecodeError as e:
    raise SourceError(f'{path}: not UTF-8 text ({e})') from e
  rows: list[tuple[str, dict | Exception]] = []
  if path.suffix.lower() in ('.jsonl', '.json'):
    for n, line in enumerate(text.splitlines(), 1):
      if not line.strip():
        continue
      where = f'{path}:{n}'
      try:
        rows.append((where, json.loads(line)))
      except json.JSONDecodeError as e:
        rows.append((where, SourceError(f'{where}: not a JSON object ({e})')))
  elif path.suffix.lower() == '.csv':
    reader = csv.DictReader(text.splitlines())
    names = set(reader.fieldnames or ())
    if 'path' not in names or not names & {'caption', 'text'}:
      raise SourceError(
          f'{path}: CSV header {reader.fieldnames} needs a "path" and a "caption" (or "text") '
          'column'
      )
    for row in reader:
      rows.append((f'{path}:{reader.line_num}', row))
  else:
    raise SourceError(f'{path}: captions must be .jsonl or .csv')
  return rows


def entries(
    root: str | pathlib.Path, captions: str, *, skip_bad: bool = False
) -> tuple[list[Entry], list[str]]:
  """Parsed and checked entries (media file present) and, with `skip_bad`, the skipped reasons."""
  root = pathlib.Path(root)
  out, skipped = [], []
  for where, row in read_captions(root, captions):
    try:
      if isinstance(row, Exception):
        raise row
      entry = _entry(root, row, where)
      if not entry.path.is_file():
        raise SourceError(f'{where}: file {entry.path} not found (path {entry.relpath!r})')
    except SourceError as e:
      if not skip_bad:
        raise
      skipped.append(str(e))
      continue
    out.append(entry)
  return out, skipped


def fingerprint(root: str | pathlib.Path, captions: str) -> dict:
  """What identifies the source's content for data versioning: captions bytes and file stats."""
  import hashlib  # pylint: disable=g-import-not-at-top

  root = pathlib.Path(root).resolve()
  path = root / captions
  digest = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() else None
  files = []
  for p in sorted(root.rglob('*')):
    if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
      st = p.stat()
      files.append((str(p.relative_to(root)), st.st_size, int(st.st_mtime)))
  return {'root': str(root), 'captions': captions, 'captions_sha1': digest, 'files': files}


def _hw(size) -> tuple[int, int]:
  if isinstance(size, int):
    return size, size
  h, w = size
  return int(h), int(w)


def fit_frame(frame: np.ndarray, size) -> np.ndarray:
  """Centre crop to the target aspect ratio, then bicubic resize: uint8 [H, W, 3]."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  h, w = _hw(size)
  frame = np.asarray(frame)
  if frame.ndim == 2:
    frame = np.stack([frame] * 3, -1)
  frame = frame[..., :3]  # drop alpha
  if frame.dtype != np.uint8:
    frame = np.clip(frame, 0, 255).astype(np.uint8)
  fh, fw = frame.shape[:2]
  scale = max(h / fh, w / fw)
  ch, cw = min(fh, round(h / scale)), min(fw, round(w / scale))
  top, left = (fh - ch) // 2, (fw - cw) // 2
  crop = frame[top : top + ch, left : left + cw]
  if crop.shape[:2] == (h, w):
    return np.ascontiguousarray(crop)
  return np.asarray(Image.fromarray(crop).resize((w, h), Image.BICUBIC))


def frame_indices(total: int, source_fps: float, fps: int, frames: int, where: str) -> np.ndarray:
  """Source frame indices of a clip (spec 8.1): truncated step, centred window, aligned starts."""
  step = int(source_fps / fps)
  if step < 1:
    raise SourceError(f'{where}: video has {source_fps:g} fps, less than data.fps={fps}')
  start = max(0, total // 2 - (frames * step) // 2)
  start = math.ceil(start / step) * step  # absolute indices are multiples of the step
  idx = start + step * np.arange(frames)
  if idx[-1] >= total:  # centred window too late: take the earliest aligned one
    idx = step * np.arange(frames)
  if idx[-1] >= total:
    raise SourceError(
        f'{where}: video has {total} frames at {source_fps:g} fps; {frames} frames at {fps} fps '
        f'need {(frames - 1) * step + 1} source frames'
    )
  return idx


def _first_line(error: Exception) -> str:
  """The reader's message without the ffmpeg banner and log that imageio appends."""
  return (str(error).strip().splitlines() or [type(error).__name__])[0]


def official_crop(frames: list[np.ndarray], crop_target: int) -> np.ndarray:
  """Frames centre-cropped to the official crop size (w, h) that best fits their aspect ratio
  among `official.crop_sizes(crop_target)` (spec 8.2; 352: 256p, 528: 384p): uint8 [T, h, w, 3].
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top

  from lumos_jax import official  # pylint: disable=g-import-not-at-top

  def image(frame: np.ndarray) -> Image.Image:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
      frame = np.clip(frame, 0, 255).astype(np.uint8)
    return Image.fromarray(frame[..., :3] if frame.ndim == 3 else frame)

  first = image(frames[0])
  size = official.choose_size(first.width, first.height, official.crop_sizes(crop_target))
  return np.stack([official.crop_image(image(f), size) for f in frames])


def _fit(frames: list[np.ndarray], size, crop_target: int) -> np.ndarray:
  if crop_target:
    return official_crop(frames, crop_target)
  return np.stack([fit_frame(f, size) for f in frames])


def load(
    entry: Entry, *, frames: int, fps: int, size, crop_target: int = 0
) -> tuple[np.ndarray, int]:
  """(uint8 [T, H, W, 3], fps) of an entry: a clip of `frames` frames, or one frame at fps 1.

  Frames are centre-cropped to `size` or, with a `crop_target`, to the official crop size that
  best fits the item's aspect ratio (`official_crop`).
  """
  import imageio.v2 as iio  # pylint: disable=g-import-not-at-top

  where = f'{entry.where} ({entry.relpath})'
  if entry.is_image:
    try:
      image = iio.imread(entry.path)
    except Exception as e:
      raise SourceError(f'{where}: cannot read image {entry.path}: {_first_line(e)}') from e
    if image.ndim not in (2, 3):
      raise SourceError(f'{where}: image {entry.path} has shape {image.shape}, expected [H, W, C]')
    return _fit([image], size, crop_target), 1
  try:
    reader = iio.get_reader(entry.path, format='FFMPEG')
    try:
      source_fps = float(reader.get_meta_data()['fps'])
      clip = [np.asarray(f) for f in reader]
    finally:
      reader.close()
  except Exception as e:
    raise SourceError(f'{where}: cannot decode video {entry.path}: {_first_line(e)}') from e
  if not clip:
    raise SourceError(f'{where}: video {entry.path} has no frames')
  idx = frame_indices(len(clip), source_fps, fps, frames, where)
  return _fit([clip[i] for i in idx], size, crop_target), fps
