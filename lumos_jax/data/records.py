# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Pre-tokenised items as ArrayRecord shards written by a tensorflow-datasets builder.

One record is one item (a video clip or an image, which is a one-frame clip):

  id          str      unique item id, e.g. 'train/video/17' or a user file name
  caption     str      the caption text
  text_ids    int32 [N]            caption token ids (without BOS / separators)
  codes       int32 [T * Hl * Wl]  visual codes, flattened
  grid        int32 [3]            declared (T, Hl, Wl) of `codes`
  fps         int32                RGB frames per second of the stored clip (1 for images)
  attributes  str      JSON, source specific (the synthetic generator's Attributes)

The builder is a plain `GeneratorBasedBuilder` with `file_format='array_record'`, so the data is
readable with `tfds.data_source('lumos_items', data_dir=...)` or
`tfds.builder_from_directory(dir).as_data_source(split)` and needs no TensorFlow. Records keep the
order in which they were generated (`disable_shuffling`): the pipeline shuffles.

`RecordSource` is the random-access source the grain pipeline reads through. Every read is checked
(readable bytes, grid, id ranges, UTF-8 caption) and failures raise `RecordError` naming the shard
file, the position in it, the item index in the split and what was expected. `verify_shards` checks
every shard of every split against dataset_info.json up front (present, opens, record count, last
record readable), so a truncated held-out shard stops training at its start rather than at the
first evaluation.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
import pathlib
import threading
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import tensorflow_datasets as tfds
from array_record.python import array_record_module

from lumos_jax import errors
from lumos_jax.vocab import Vocab

BUILDER_NAME = 'lumos_items'
BUILDER_VERSION = '1.0.0'
FIELDS = ('id', 'caption', 'text_ids', 'codes', 'grid', 'fps', 'attributes')


class RecordError(errors.UserError):
  """A record or shard that cannot be read or does not hold a valid item."""


def features() -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict(
      {
          'id': tfds.features.Text(),
          'caption': tfds.features.Text(),
          'text_ids': tfds.features.Tensor(shape=(None,), dtype=np.int32),
          'codes': tfds.features.Tensor(shape=(None,), dtype=np.int32),
          'grid': tfds.features.Tensor(shape=(3,), dtype=np.int32),
          'fps': np.int32,
          'attributes': tfds.features.Text(),
      }
  )


class LumosItems(tfds.core.GeneratorBasedBuilder):
  """Pre-tokenised Lumos items; `examples` maps a split name to a callable yielding record dicts.

  `examples` is only needed to write; reading needs just `data_dir`.
  """

  VERSION = tfds.core.Version(BUILDER_VERSION)
  RELEASE_NOTES = {BUILDER_VERSION: 'Captioned clips as visual codes and caption ids.'}

  def __init__(
      self, *, examples: Mapping[str, Callable[[], Iterable[dict]]] | None = None, **kwargs
  ):
    self._examples = examples
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='Pre-tokenised lumos_jax items (see lumos_jax/data/records.py).',
        features=features(),
        disable_shuffling=True,  # keep generation order; the grain pipeline shuffles
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    if self._examples is None:
      raise ValueError('LumosItems was created without examples: nothing to write')
    return {split: self._generate_examples(split) for split in self._examples}

  def _generate_examples(self, split):
    for i, example in enumerate(self._examples[split]()):
      yield i, example


def write(
    data_dir: str | os.PathLike,
    examples: Mapping[str, Callable[[], Iterable[dict]]],
    *,
    num_shards: int | None = None,
) -> pathlib.Path:
  """Writes the splits as ArrayRecord shards under `data_dir`; returns the builder directory.

  Records are written as given (no validation: `prepare` validates, and tests write bad records
  on purpose). `num_shards=None` lets TFDS choose (one shard for small data).
  """
  data_dir = pathlib.Path(data_dir)
  builder = LumosItems(examples=examples, data_dir=os.fspath(data_dir), file_format='array_record')
  builder.download_and_prepare(
      download_dir=os.fspath(data_dir / '.downloads'),
      download_config=tfds.download.DownloadConfig(num_shards=num_shards),
  )
  return pathlib.Path(os.fspath(builder.data_dir))


def builder_dir(data_dir: str | os.PathLike) -> pathlib.Path:
  """Where `write(data_dir, ...)` puts the shards and dataset_info.json."""
  return pathlib.Path(data_dir) / BUILDER_NAME / BUILDER_VERSION


# -----------------------------------------------------------------------------------------------
# Reading
# -----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Record:
  """A validated item read back from the records."""

  index: int  # position in the split
  id: str
  caption: str
  text_ids: np.ndarray  # int32 [N]
  codes: np.ndarray  # int32 [T, Hl, Wl]
  fps: int
  attributes: str  # JSON

  @property
  def num_frames(self) -> int:
    return int(self.codes.shape[0])

  @property
  def is_image(self) -> bool:
    return self.num_frames == 1


@dataclasses.dataclass(frozen=True)
class Checks:
  """What a read record must satisfy beyond being decodable.

  Attributes:
    codebook_size: codes must lie in [0, codebook_size).
    text_start, text_end: text ids must lie in this half-open range ...
    forbidden_text_ids: ... and must not be one of these (special tokens: a separator inside a
      caption would break the layout).
    latent_per_grid: frame height/width in latents must be a positive multiple of it.
    max_text_tokens: at most this many caption ids (None: no limit).
  """

  codebook_size: int
  text_start: int = 0
  text_end: int = 2**31 - 1
  forbidden_text_ids: frozenset = frozenset()
  latent_per_grid: int = 1
  max_text_tokens: int | None = None

  @classmethod
  def for_vocab(cls, vocab: Vocab, max_text_tokens: int | None = None) -> Checks:
    return cls(
        codebook_size=vocab.codebook_size,
        text_start=vocab.text_start,
        text_end=vocab.text_end,
        forbidden_text_ids=frozenset(vocab.specials().values()),
        latent_per_grid=vocab.latent_per_grid,
        max_text_tokens=max_text_tokens,
    )


def check_item(
    text_ids: np.ndarray, codes: np.ndarray, grid: Any, fps: int, checks: Checks
) -> np.ndarray:
  """Validates one item's fields; returns codes reshaped to the grid. Raises ValueError (what)."""
  grid = [int(g) for g in np.asarray(grid).reshape(-1)]
  if len(grid) != 3 or min(grid) <= 0:
    raise ValueError(f'declared grid {grid} is not three positive sizes (T, Hl, Wl)')
  t, hl, wl = grid
  if hl % checks.latent_per_grid or wl % checks.latent_per_grid:
    raise ValueError(
        f'declared grid {grid}: latent height/width must be multiples of '
        f'Vocab.latent_per_grid={checks.latent_per_grid}'
    )
  codes = np.asarray(codes)
  if codes.size != t * hl * wl:
    raise ValueError(
        f'codes hold {codes.size} values but the declared grid (T, Hl, Wl) = {tuple(grid)} needs '
        f'{t * hl * wl}'
    )
  if codes.size and (codes.min() < 0 or codes.max() >= checks.codebook_size):
    flat = codes.reshape(-1)
    i = int(np.argmax((flat < 0) | (flat >= checks.codebook_size)))
    raise ValueError(
        f'visual code {int(flat[i])} at position {i} is outside [0, {checks.codebook_size}) '
        '(Vocab.codebook_size)'
    )
  text_ids = np.asarray(text_ids)
  bad = (text_ids < checks.text_start) | (text_ids >= checks.text_end)
  if checks.forbidden_text_ids:
    bad |= np.isin(text_ids, list(checks.forbidden_text_ids))
  if bad.any():
    i = int(np.argmax(bad))
    raise ValueError(
        f'text id {int(text_ids[i])} at position {i} is not a caption token: expected ids in '
        f'[{checks.text_start}, {checks.text_end}) other than the special tokens'
    )
  if checks.max_text_tokens is not None and len(text_ids) > checks.max_text_tokens:
    raise ValueError(
        f'caption has {len(text_ids)} tokens, more than data.max_text_tokens='
        f'{checks.max_text_tokens}'
    )
  if int(fps) < 1:
    raise ValueError(f'fps={int(fps)}, expected a positive frame rate')
  return codes.reshape(t, hl, wl).astype(np.int32, copy=False)


class RecordSource:
  """Random access to one split of the records, with every item checked as it is read.

  Implements `__len__` / `__getitem__`, so it serves as a grain source. Errors are `RecordError`
  naming the shard file, the record's position in it and its index in the split.
  """

  def __init__(self, directory: str | os.PathLike, split: str, checks: Checks):
    directory = pathlib.Path(directory)
    if not (directory / 'dataset_info.json').is_file():
      raise FileNotFoundError(
          f'{directory}: no records (dataset_info.json missing); run `python -m lumos_jax prepare`'
      )
    builder = tfds.builder_from_directory(os.fspath(directory))
    if split not in builder.info.splits:
      raise ValueError(f'{directory}: no split {split!r}; has {sorted(builder.info.splits)}')
    self.directory = directory
    self.split = split
    self.checks = checks
    self._features = builder.info.features
    self._instructions = list(builder.info.splits[split].file_instructions)
    self._ends = list(np.cumsum([fi.take for fi in self._instructions]))
    self._length = int(self._ends[-1]) if self._ends else 0
    self._readers = [None] * len(self._instructions)  # opened lazily, so the source pickles
    self._lock = threading.Lock()

  def __len__(self) -> int:
    return self._length

  def where(self, index: int) -> tuple[str, int]:
    """(shard file, position in that shard) of the split's `index`-th record."""
    k = bisect.bisect_right(self._ends, index)
    start = self._ends[k - 1] if k else 0
    fi = self._instructions[k]
    return fi.filename, int(index - start + fi.skip)

  def error_at(self, index: int, what: str) -> RecordError:
    """A RecordError naming the shard file, the position in it and the index in the split."""
    shard, position = self.where(index)
    return RecordError(f'{shard}: record {position} (item {index} of split {self.split!r}): {what}')

  def _reader(self, shard: int):
    """The shard's reader, opened on first use and checked against dataset_info.json."""
    reader = self._readers[shard]
    if reader is None:
      with self._lock:
        reader = self._readers[shard]
        if reader is None:
          fi = self._instructions[shard]
          reader = array_record_module.ArrayRecordReader(
              os.fspath(fi.filename),
              options='readahead_buffer_size:0',
              file_reader_buffer_size=32768,
          )
          # A truncated shard can open "successfully" with no records and then return empty
          # bytes for every read: compare with the count written at prepare time.
          found = reader.num_records() if reader.ok() else None
          if found != fi.examples_in_shard:
            raise ValueError(
                f'the shard holds {found} readable records, dataset_info.json says '
                f'{fi.examples_in_shard}'
            )
          self._readers[shard] = reader
    return reader

  def raw(self, index: int) -> bytes:
    """The serialized record at the split's `index` (RecordError if it cannot be read)."""
    if not 0 <= index < self._length:
      raise IndexError(f'index {index} outside [0, {self._length}) for split {self.split!r}')
    shard = bisect.bisect_right(self._ends, index)
    _, position = self.where(index)
    try:
      raw = self._reader(shard).read([position])[0]
    except Exception as e:  # the C++ reader raises RuntimeError / OSError with riegeli messages
      raise self.error_at(
          index, f'cannot read the record (truncated or corrupt shard?): {e}'
      ) from e
    if not raw:
      raise self.error_at(index, 'empty record (truncated or corrupt shard?)')
    return raw

  def __getitem__(self, index: int) -> Record:
    index = int(index)
    raw = self.raw(index)
    try:
      ex = self._features.deserialize_example_np(raw)
    except Exception as e:
      raise self.error_at(index, f'not a {BUILDER_NAME} record (fields {FIELDS}): {e}') from e
    missing = [k for k in FIELDS if ex.get(k) is None]
    if missing:
      raise self.error_at(index, f'record lacks fields {missing} (expected {FIELDS})')
    try:
      caption = _text(ex['caption'], 'caption')
      item_id = _text(ex['id'], 'id')
      attributes = _text(ex['attributes'], 'attributes')
      codes = check_item(ex['text_ids'], ex['codes'], ex['grid'], ex['fps'], self.checks)
    except ValueError as e:
      raise self.error_at(index, str(e)) from e
    return Record(
        index,
        item_id,
        caption,
        np.asarray(ex['text_ids'], np.int32),
        codes,
        int(ex['fps']),
        attributes,
    )

  def __getstate__(self):
    state = self.__dict__.copy()
    state['_readers'] = [None] * len(self._instructions)
    del state['_lock']
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._lock = threading.Lock()


def _text(value, field: str) -> str:
  if isinstance(value, str):
    return value
  try:
    return bytes(value).decode('utf-8')
  except UnicodeDecodeError as e:
    raise ValueError(f'{field} is not UTF-8 text: {bytes(value)[:40]!r}... ({e})') from e


def read_all(source: RecordSource) -> list[Record]:
  return [source[i] for i in range(len(source))]


_REBUILD = 'rebuild the records with `python -m lumos_jax prepare --config=... --force`'


def verify_shards(directory: str | os.PathLike) -> dict[str, int]:
  """Checks every shard of every split against dataset_info.json; returns records per split.

  Meant for the start of training, so that a missing or truncated shard of any split (the held-out
  one included) stops the run at once instead of when evaluation first reads it. For each shard
  listed in dataset_info.json: the file exists and opens, its record count equals the shard length
  written at prepare time, and its last record reads and decodes. That costs one footer and one
  record per shard; records in the middle of a shard are not read (`RecordSource` reports
  corruption there when the record is read).

  Args:
    directory: the builder directory, `builder_dir(data_dir)`, holding dataset_info.json.

  Returns:
    The number of records of each split, e.g. `{'train': 4096, 'heldout': 64}`.

  Raises:
    RecordError: dataset_info.json is missing or unreadable, or a shard is missing, does not open,
      holds another number of records than recorded, or its last record cannot be read. The
      message starts with the file, then names the split, what was expected and what was found.
  """
  directory = pathlib.Path(directory)
  info_path = directory / 'dataset_info.json'
  if not info_path.is_file():
    raise RecordError(f'{info_path}: missing, so the records cannot be checked; {_REBUILD}')
  try:
    info = tfds.builder_from_directory(os.fspath(directory)).info
  except Exception as e:  # TFDS raises assorted errors for a bad dataset_info or features.json
    raise RecordError(
        f'{info_path}: not a readable TFDS dataset_info.json ({e}); {_REBUILD}'
    ) from e
  counts = {}
  for split_name, split in info.splits.items():
    # `filepaths` and `shard_lengths` list every shard, even an empty one that
    # `file_instructions` would leave out.
    for path, expected in zip(split.filepaths, split.shard_lengths):
      _verify_shard(pathlib.Path(os.fspath(path)), split_name, int(expected), info.features)
    counts[split_name] = int(sum(split.shard_lengths))
  return counts


def _verify_shard(
    path: pathlib.Path, split: str, expected: int, item_features: tfds.features.FeaturesDict
) -> None:
  """One shard of `verify_shards`: RecordError unless it holds `expected` records, last readable."""
  where = f'{path} (split {split!r})'
  expectation = f'{expected} records expected (dataset_info.json)'
  if not path.is_file():
    raise RecordError(f'{where}: file missing, {expectation}; {_REBUILD}')
  try:
    reader = array_record_module.ArrayRecordReader(
        os.fspath(path), options='readahead_buffer_size:0'
    )
  except Exception as e:  # unreadable file (permissions, ...): riegeli raises RuntimeError/OSError
    raise RecordError(f'{where}: cannot open the file ({e}), {expectation}; {_REBUILD}') from e
  try:
    # A truncated shard loses its footer index: the reader opens without raising but is not ok()
    # and reports no records, so the count is compared with dataset_info.json, not trusted.
    found = reader.num_records() if reader.ok() else 0
    if found != expected:
      why = (
          'file truncated or corrupt'
          if found < expected
          else 'the file does not match dataset_info.json (written by another prepare?)'
      )
      raise RecordError(f'{where}: {expectation}, {found} readable: {why}; {_REBUILD}')
    if expected:
      # The last record sits next to the footer, where an interrupted copy or write ends.
      last = expected - 1
      try:
        example = item_features.deserialize_example_np(reader.read([last])[0])
        missing = [k for k in FIELDS if example.get(k) is None]
        if missing:
          raise ValueError(f'not a {BUILDER_NAME} record: lacks fields {missing}')
      except Exception as e:  # riegeli RuntimeError (hash mismatch), proto DecodeError, ...
        raise RecordError(
            f'{where}: record {last} (the last) cannot be read ({e}): file truncated or corrupt; '
            f'{_REBUILD}'
        ) from e
  finally:
    try:
      reader.close()
    except Exception:  # pylint: disable=broad-except
      pass  # closing a reader that met a corrupt chunk raises that error again: already reported


def load_meta(directory: str | os.PathLike) -> dict:
  path = pathlib.Path(directory) / 'meta.json'
  if not path.is_file():
    raise FileNotFoundError(f'{path} not found: the data directory is not prepared')
  return json.loads(path.read_text())
