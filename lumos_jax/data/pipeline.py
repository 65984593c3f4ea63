# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The grain input pipeline: records -> training batches {'tokens', 'labels'} (int32 [B, L]).

Per process and per kind (videos, images):

  MapDataset.range(records of that kind)[process::count]   disjoint shard per JAX process
    .shuffle(seed).repeat(num_epochs)                      reshuffled every epoch
    .map(read)                                             checked read; bad items raise or skip
    .to_iter_dataset(ReadOptions(read_threads))            parallel reads
    .batch(B_local, batch_fn=list)                         raw records

then `IterDataset.mix` of the video and image batch streams by `data.image_fraction` (a batch is
all videos or all images, as the official joint loop alternates image and video steps), a
per-batch transform (`map_with_index`) that lays the items out, and thread prefetch.

The per-batch transform follows spec 6.1 with our tokenizer (temporal compression 1: latent frames
are RGB frames):
  1. one (fps, duration) choice per batch from `data.fps_duration` (images: fps = duration = 1);
  2. frame dropping: with interval = data_fps // fps, keep stored frames idx with
     idx % interval == 0 and idx + 1 <= duration * data_fps; the header says (duration, fps);
  3. masking mode per item from `data.masking_modes`: 'video_next_frame' gives the first
     `data.num_given_frames` frames (and the video header) IGNORE labels;
  4. CFG text dropout with probability `data.cfg_dropout`, mode from `data.cfg_modes`:
     'text_only' drops BOS, prompt and first separator (the item starts at video_start);
     'text_and_video' keeps only the labelled tokens without the last one (tokens = labels);
  5. right padding (pad id / IGNORE) to the smallest of `data.length_buckets` that holds the
     batch's length bound, max_text_tokens + 7 + T * (Hl * (Wl + 1) + 4): it depends only on the
     batch's kind, frame choice and grid, so all processes pad a step to the same length and the
     train step compiles once per (kind, choice).

All randomness comes from numpy generators seeded by (seed, batch index[, process, position]), and
grain checkpoints the positions, so a restored iterator yields the same batches. Save/restore:
`it.get_state()` / `it.set_state(state)` (JSON-serialisable dicts), or with Orbax
`grain.checkpoint.CheckpointSave(it)` / `grain.checkpoint.CheckpointRestore(it)`.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import threading
import time
import weakref
from typing import Any, Sequence

import grain
import numpy as np
from absl import logging

from lumos_jax import layout
from lumos_jax.data import prepare as prepare_lib
from lumos_jax.data import records
from lumos_jax.data.config import DataConfig
from lumos_jax.tokenizers import text as text_lib
from lumos_jax.vocab import IGNORE, Vocab

_MAX_SKIP_FRACTION = 0.5  # more bad than good items (after 10 skips) is an error, not noise

Batch = dict[str, np.ndarray]


# -----------------------------------------------------------------------------------------------
# Settings
# -----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
  """What the per-batch transform needs: the data section, the vocabulary and, for prompt
  templates other than '{caption}', the text tokenizer."""

  data: DataConfig
  vocab: Vocab
  text_tokenizer: Any = None

  @classmethod
  def create(cls, data: DataConfig, vocab: Vocab) -> Settings:
    tokenizer = None
    if data.prompt_template != '{caption}':
      tokenizer = text_lib.for_vocab(vocab, data.text_tokenizer or None)
    return cls(data, vocab, tokenizer)


# -----------------------------------------------------------------------------------------------
# Per-item transforms
# -----------------------------------------------------------------------------------------------


def select_frames(
    num_frames: int, data_fps: int, fps: int, duration: int, temporal_compression: int = 1
) -> np.ndarray:
  """Indices of the stored latent frames kept for an RGB (fps, duration) choice (spec 6.1 step 3).

  interval = data_fps // fps; keep idx with idx % interval == 0 and (idx + 1) / data_fps <=
  duration, i.e. fps * duration frames. With a temporally compressing tokenizer (Cosmos: c = 4)
  the stored frames are latents and only fps = data_fps is possible (the official rule): the
  first `layout.latent_frames(fps * duration, c)` are kept (24 RGB frames -> 7 latents). Raises
  ValueError when the clip is too short.
  """
  if temporal_compression > 1:
    if fps != data_fps:
      raise ValueError(
          f'fps {fps}: with a temporally compressing tokenizer the clip rate must be '
          f'the stored {data_fps} fps'
      )
    needed = layout.latent_frames(fps * duration, temporal_compression)
    if num_frames < needed:
      raise ValueError(
          f'a clip of {num_frames} latent frames is too short for {duration} s at '
          f'{fps} fps ({needed} latent frames)'
      )
    return np.arange(needed)
  if fps > data_fps or data_fps % fps:
    raise ValueError(f'fps {fps} does not divide the stored clip rate {data_fps} fps')
  interval = data_fps // fps
  idx = np.arange(num_frames)
  kept = idx[(idx % interval == 0) & (idx + 1 <= duration * data_fps)]
  if len(kept) != fps * duration:
    raise ValueError(
        f'a clip of {num_frames} frames at {data_fps} fps is too short for {duration} s at {fps} '
        f'fps (needs {duration * data_fps} stored frames)'
    )
  return kept


def length_bound(grid: Sequence[int], num_frames: int, max_text_tokens: int) -> int:
  """Longest item with `num_frames` frames of a (., Hl, Wl) grid: [bos] text [sep] VIDEO [sep]."""
  _, hl, wl = grid
  return max_text_tokens + 7 + num_frames * layout.frame_length(hl, wl)


def bucket_length(length: int, buckets: Sequence[int]) -> int:
  """The smallest bucket >= length; ValueError if none is."""
  for b in buckets:
    if b >= length:
      return b
  raise ValueError(f'length {length} exceeds the largest of data.length_buckets={tuple(buckets)}')


def format_prompt(
    template: str, caption: str, *, fps: int, duration: int, width: int, height: int
) -> str:
  """`data.prompt_template` filled in: {caption}, {frames} (= fps * duration RGB frames, as the
  official prompt counts them), {fps}, {duration} and {resolution} (WxH pixels). Training items
  and `sample` both format prompts here."""
  return template.format(
      caption=caption,
      frames=fps * duration,
      fps=fps,
      duration=duration,
      resolution=f'{width}x{height}',
  )


def prompt_ids(record: records.Record, fps: int, duration: int, settings: Settings) -> np.ndarray:
  """Prompt token ids: the stored caption ids, or the tokenised `prompt_template`."""
  template, limit = settings.data.prompt_template, settings.data.max_text_tokens
  if template == '{caption}':
    ids = record.text_ids
  else:
    _, hl, wl = record.codes.shape
    _, sh, sw = settings.vocab.rope_strides
    prompt = format_prompt(
        template, record.caption, fps=fps, duration=duration, width=wl * sw, height=hl * sh
    )
    ids = np.asarray(settings.text_tokenizer.encode(prompt), np.int32)
  if len(ids) > limit:
    raise ValueError(f'prompt has {len(ids)} tokens, more than data.max_text_tokens={limit}')
  return ids


def make_item(
    record: records.Record,
    fps: int,
    duration: int,
    rng: np.random.Generator,
    settings: Settings,
) -> layout.Item:
  """Lays out one training item (spec 6.1 steps 2-5) for the batch's (fps, duration) choice.

  Images (one-frame records) always use fps = duration = 1 and no given frames.
  """
  d = settings.data
  # Draw every random number whatever the branch, so one item's choices never shift another's.
  mode = d.masking_modes[int(rng.integers(len(d.masking_modes)))]
  dropped = rng.random() < d.cfg_dropout
  cfg_mode = d.cfg_modes[int(rng.integers(len(d.cfg_modes)))]
  if record.is_image:
    fps = duration = 1
    frames = record.codes[:1]
    given = 0
  else:
    frames = record.codes[
        select_frames(record.num_frames, record.fps, fps, duration, settings.vocab.rope_strides[0])
    ]
    given = d.num_given_frames if mode == 'video_next_frame' else 0
  text = prompt_ids(record, fps, duration, settings)
  item = layout.build_item(
      text,
      list(frames),
      settings.vocab,
      duration=duration,
      fps=fps,
      num_given_frames=given,
      unconditional=dropped and cfg_mode == 'text_only',
  )
  if dropped and cfg_mode == 'text_and_video':
    kept = item.labels[item.labels != IGNORE][:-1]
    item = layout.Item(kept.copy(), kept.copy())
  return item


class _LayoutBatch:
  """map_with_index transform: a list of records -> padded {'tokens', 'labels', 'record_index'}."""

  def __init__(self, settings: Settings, seed: int, process_index: int):
    self.settings = settings
    self.seed = seed
    self.process_index = process_index

  def __call__(self, index: int, batch: list[records.Record]) -> Batch:
    s, d = self.settings, self.settings.data
    # Batch-level choices do not depend on the process: every process picks the same (fps,
    # duration) for a step, hence the same padded length.
    batch_rng = np.random.default_rng([self.seed, index])
    fps, duration = d.fps_duration[int(batch_rng.integers(len(d.fps_duration)))]
    items = []
    for j, record in enumerate(batch):
      rng = np.random.default_rng([self.seed, index, self.process_index, j])
      try:
        items.append(make_item(record, fps, duration, rng, s))
      except ValueError as e:
        raise records.RecordError(f'item {record.id!r} (record {record.index}): {e}') from e
    frames = (
        1 if batch[0].is_image else layout.latent_frames(fps * duration, s.vocab.rope_strides[0])
    )
    bound = max(length_bound(r.codes.shape, frames, d.max_text_tokens) for r in batch)
    length = bucket_length(bound, d.length_buckets)
    return {
        'tokens': layout.pad_batch([i.tokens for i in items], s.vocab, length),
        'labels': layout.pad_batch([i.labels for i in items], s.vocab, length, fill=IGNORE),
        'record_index': np.asarray([r.index for r in batch], np.int32),
    }


# -----------------------------------------------------------------------------------------------
# Reading with checks and counted skips
# -----------------------------------------------------------------------------------------------

_skips: collections.Counter = collections.Counter()
_skips_lock = threading.Lock()


def skip_counts() -> dict[str, int]:
  """Items skipped so far in this process by pipelines with data.on_bad_item='skip', by split."""
  with _skips_lock:
    return dict(_skips)


class _Read:
  """map transform: record index -> checked `Record`, or None (skipped, counted and logged)."""

  def __init__(self, source: records.RecordSource, data: DataConfig, max_frames: int):
    self.source = source
    self.data = data
    self.max_frames = max_frames
    self.attempts = 0
    self.skipped = 0
    self._lock = threading.Lock()

  def __call__(self, index: int) -> records.Record | None:
    try:
      record = self.source[index]
      frames = 1 if record.is_image else self.max_frames
      bound = length_bound(record.codes.shape, frames, self.data.max_text_tokens)
      if bound > self.data.length_buckets[-1]:
        raise self.source.error_at(
            index,
            f'up to {bound} tokens with {frames} frames of {record.codes.shape[1:]} latents, more '
            f'than the largest of data.length_buckets={self.data.length_buckets}',
        )
    except records.RecordError as e:
      if self.data.on_bad_item != 'skip':
        raise
      return self._skip(e)
    with self._lock:
      self.attempts += 1
    return record

  def _skip(self, error: Exception) -> None:
    with self._lock:
      self.attempts += 1
      self.skipped += 1
      attempts, skipped = self.attempts, self.skipped
    with _skips_lock:
      _skips[self.source.split] += 1
    logging.warning('data: skipping bad item (%d of %d read so far): %s', skipped, attempts, error)
    if skipped >= 10 and skipped > _MAX_SKIP_FRACTION * attempts:
      raise records.RecordError(
          f'{self.source.directory}: {skipped} of the {attempts} items read so far from split '
          f'{self.source.split!r} are bad; last: {error}'
      ) from error
    return None

  def __getstate__(self):
    state = self.__dict__.copy()
    del state['_lock']
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._lock = threading.Lock()


# -----------------------------------------------------------------------------------------------
# The dataset
# -----------------------------------------------------------------------------------------------


def _process(process_index, process_count) -> tuple[int, int]:
  if process_index is None or process_count is None:
    import jax  # pylint: disable=g-import-not-at-top

    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index={process_index} not in [0, {process_count})')
  return int(process_index), int(process_count)


def _sub_seed(seed: int, *salt: int) -> int:
  return int(np.random.SeedSequence([seed, *salt]).generate_state(1)[0])


def make_dataset(
    data: DataConfig,
    vocab: Vocab,
    *,
    split: str = 'train',
    seed: int = 0,
    process_index: int | None = None,
    process_count: int | None = None,
    num_epochs: int | None = None,
) -> grain.IterDataset:
  """The batch stream of a split for this process (see the module docstring).

  Args:
    data: the data section; the records must be prepared (`prepare.ensure_prepared`).
    vocab: the vocabulary the records were prepared for.
    split: 'train' or 'heldout'.
    seed: shuffling and transform seed (the run's `config.seed`).
    process_index, process_count: this process's shard (default: from jax).
    num_epochs: None repeats forever; with mixed images, epochs count the video items.

  Returns:
    grain.IterDataset of {'tokens': int32 [B_local, L], 'labels': int32 [B_local, L],
    'record_index': int32 [B_local]}, B_local = data.batch_size // process_count.
  """
  d = data
  settings = Settings.create(data, vocab)
  process_index, process_count = _process(process_index, process_count)
  if d.batch_size % process_count:
    raise ValueError(
        f'data.batch_size={d.batch_size} is not divisible by the {process_count} processes'
    )
  local_batch = d.batch_size // process_count
  meta = prepare_lib.load_meta(data, vocab)
  if split not in meta['splits']:
    raise ValueError(f'split {split!r} has no items in {prepare_lib.version_dir(data, vocab)}')
  source = prepare_lib.record_source(data, vocab, split)
  ranges = meta['splits'][split]
  temporal = vocab.rope_strides[0]  # the tokenizer's temporal compression
  stored = layout.latent_frames(d.frames, temporal)
  if d.image_fraction < 1:  # every (fps, duration) choice must fit the stored clips
    for fps, duration in d.fps_duration:
      try:
        select_frames(stored, d.fps, fps, duration, temporal)
      except ValueError as e:
        raise ValueError(
            f'data.fps_duration entry {(fps, duration)} does not fit the stored clips '
            f'(data.frames={d.frames} at data.fps={d.fps}): {e}'
        ) from e
  max_frames = max(layout.latent_frames(f * t, temporal) for f, t in d.fps_duration)
  reader = _Read(source, data, max_frames)
  read_options = grain.ReadOptions(
      num_threads=d.read_threads, prefetch_buffer_size=max(d.read_threads, 4 * local_batch)
  )

  def stream(kind: str, salt: int, epochs: int | None) -> grain.IterDataset:
    lo, hi = ranges[kind]
    ds = grain.MapDataset.range(lo, hi)[process_index::process_count]
    # Batches may span epochs (repeat comes first), so only a finite run can come up empty.
    if not len(ds) or (epochs is not None and len(ds) * epochs < local_batch):
      raise ValueError(
          f'split {split!r} has {hi - lo} {kind} for {process_count} process(es): not one local '
          f'batch of {local_batch} in {epochs or "any number of"} epoch(s)'
      )
    if d.shuffle:
      ds = ds.shuffle(seed=_sub_seed(seed, salt))
    ds = ds.repeat(epochs).map(reader).to_iter_dataset(read_options)
    return ds.batch(local_batch, drop_remainder=True, batch_fn=list)

  if d.image_fraction == 0:
    ds = stream('videos', 0, num_epochs)
  elif d.image_fraction == 1:
    ds = stream('images', 1, num_epochs)
  else:
    ds = grain.IterDataset.mix(
        [stream('videos', 0, num_epochs), stream('images', 1, None)],
        [1 - d.image_fraction, d.image_fraction],
    )
  ds = ds.map_with_index(_LayoutBatch(settings, seed, process_index))
  if d.prefetch > 0:
    ds = grain.experimental.ThreadPrefetchIterDataset(ds, prefetch_buffer_size=d.prefetch)
  return ds


def make_iterator(data: DataConfig, vocab: Vocab, **kwargs) -> grain.DatasetIterator:
  """An iterator over `make_dataset(data, vocab, **kwargs)`; checkpoint it with `get_state` /
  `set_state`. Synthetic data is prepared on first use (logged)."""
  prepare_lib.ensure_prepared(data, vocab)
  iterator = iter(make_dataset(data, vocab, **kwargs))
  atexit.register(_close_at_exit, weakref.ref(iterator))
  return iterator


def _close_at_exit(ref: weakref.ref):
  """Stops prefetch threads before interpreter teardown.

  grain 0.2.18's ThreadPrefetchDatasetIterator.close is not idempotent and its __del__, run during
  teardown, fails on already-cleared module globals (a noisy 'Exception ignored' message); so close
  it while modules are alive and make the later call a no-op. A weak reference: this does not keep
  iterators alive.
  """
  iterator = ref()
  if iterator is not None:
    iterator.close()
    iterator.close = lambda: None


def benchmark(data: DataConfig, vocab: Vocab, num_batches: int = 50) -> float:
  """Items per second delivered by the training pipeline (after one warm-up batch)."""
  iterator = make_iterator(data, vocab, process_index=0, process_count=1)
  batch = next(iterator)
  start = time.perf_counter()
  items = 0
  for _ in range(num_batches):
    batch = next(iterator)
    items += len(batch['tokens'])
  rate = items / (time.perf_counter() - start)
  logging.info(
      'data pipeline: %.0f items/s (%d batches of %d)', rate, num_batches, len(batch['tokens'])
  )
  iterator.close()
  return rate
