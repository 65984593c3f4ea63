# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`prepare`: generate (or read) items, fit the visual tokenizer, tokenise, write records.

  python -m lumos_jax prepare --config=configs/demo.py --config.data.dir=/tmp/lumos_data

Layout of a prepared data set, under `data.dir`:

  <version>/meta.json         what was prepared: config parts, counts, per-split kind ranges
  <version>/tokenizer.npz     the fitted PatchVQ (load with `load_tokenizer(data, vocab)`)
  <version>/records/lumos_items/1.0.0/*.array_record-*   TFDS ArrayRecord shards (records.py)

`<version>` is a short hash of the settings that change the data (`data_spec`), so re-running
with the same config finds the directory and does nothing, and a changed config writes a new one.
A version directory is built under a temporary name and renamed when complete, so a crash never
leaves a half-written version that looks prepared.

Within a split, records are ordered videos first, then images; meta.json gives the two ranges.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import sys
import time
import uuid
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from absl import logging

from lumos_jax.data import records, synthetic, user_source
from lumos_jax.data.config import DataConfig
from lumos_jax.errors import UserError
from lumos_jax.tokenizers import patch_vq, text as text_lib, visual
from lumos_jax.vocab import Vocab

FORMAT_VERSION = 1  # bump when the record contents or layout change
SPLITS = ('train', 'heldout')
# Clips encoded together: the patch VQ de-duplicates patches across a chunk; a Cosmos DV clip
# holds the network's activations, so it goes one clip at a time.
_ENCODE_CHUNK = {'patch_vq': 64, 'cosmos': 1}


# -----------------------------------------------------------------------------------------------
# Versioning
# -----------------------------------------------------------------------------------------------


def _plain(x: Any) -> Any:
  if dataclasses.is_dataclass(x):
    x = dataclasses.asdict(x)
  if isinstance(x, dict):
    return {k: _plain(v) for k, v in sorted(x.items())}
  if isinstance(x, (list, tuple)):
    return [_plain(v) for v in x]
  return x


def data_spec(data: DataConfig, vocab: Vocab) -> dict:
  """The settings that determine the prepared data (hashed into the version)."""
  d = data
  spec = {
      'format': FORMAT_VERSION,
      'source': d.source,
      'vocab': _plain(vocab),
      'frames': d.frames,
      'size': _plain(d.size),
      'fps': d.fps,
      'max_text_tokens': d.max_text_tokens,
      'tokenizer': visual.fingerprint(d.tokenizer),
      'seed': d.seed,
      'num_shards': d.num_shards,
  }
  if d.text_tokenizer:
    spec['text_tokenizer'] = _file_sha1(d.text_tokenizer)
  if d.source == 'synthetic':
    spec['counts'] = {
        k: getattr(d, k)
        for k in ('num_train', 'num_heldout', 'num_train_images', 'num_heldout_images')
    }
    spec['generator'] = synthetic.GENERATOR_VERSION
    spec['placement'] = d.placement
  else:
    if not d.user.root:
      raise UserError("data.source='user' needs data.user.root (a folder of videos/images)")
    spec['user'] = user_source.fingerprint(d.user.root, d.user.captions)
    spec['on_bad_item'] = d.on_bad_item  # skipping changes which items are written
  return spec


def _file_sha1(path) -> str:
  path = pathlib.Path(path)
  if not path.is_file():
    raise UserError(f'data.text_tokenizer: file {path} not found')
  return hashlib.sha1(path.read_bytes()).hexdigest()


def data_version(data: DataConfig, vocab: Vocab) -> str:
  blob = json.dumps(data_spec(data, vocab), sort_keys=True).encode()
  return hashlib.sha1(blob).hexdigest()[:12]


def version_dir(data: DataConfig, vocab: Vocab) -> pathlib.Path:
  return pathlib.Path(data.dir) / data_version(data, vocab)


def is_prepared(data: DataConfig, vocab: Vocab) -> bool:
  return (version_dir(data, vocab) / 'meta.json').is_file()


# -----------------------------------------------------------------------------------------------
# Sources: raw items per split
# -----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RawItem:
  id: str
  caption: str
  video: np.ndarray  # uint8 [T, H, W, 3]
  fps: int
  attributes: str  # JSON


class _Source:
  """Raw items of a split, in record order (videos, then images), with counts known up front."""

  def __init__(self, data: DataConfig):
    self.data = d = data
    self.skipped: list[str] = []
    if d.source == 'synthetic':
      self.counts = {
          'train': (d.num_train, d.num_train_images),
          'heldout': (d.num_heldout, d.num_heldout_images),
      }
    else:
      found, skipped = user_source.entries(
          d.user.root, d.user.captions, skip_bad=d.on_bad_item == 'skip'
      )
      self.skipped += skipped
      self.entries = {
          s: (
              [e for e in found if e.split == s and not e.is_image],
              [e for e in found if e.split == s and e.is_image],
          )
          for s in SPLITS
      }
      self.counts = {s: tuple(len(x) for x in self.entries[s]) for s in SPLITS}

  def items(self, split: str) -> Iterator[RawItem | None]:
    """Raw items; None for a user item that failed to load and is skipped (on_bad_item='skip')."""
    d = self.data
    size, frames, fps = d.size, d.frames, d.fps
    if d.source == 'synthetic':
      num_videos, num_images = self.counts[split]
      for kind, num, t, f in (('video', num_videos, frames, fps), ('image', num_images, 1, 1)):
        for i in range(num):
          ex = synthetic.example(
              i, d.seed, split, frames=t, size=size, fps=f, placement=d.placement
          )
          attributes = dict(dataclasses.asdict(ex.attributes), kind=kind)
          yield RawItem(
              f'{split}/{kind}/{i:06d}', ex.caption, ex.video, ex.fps, json.dumps(attributes)
          )
      return
    for group in self.entries[split]:
      for entry in group:
        try:
          video, item_fps = user_source.load(entry, frames=frames, fps=fps, size=size)
        except user_source.SourceError as e:
          if d.on_bad_item != 'skip':
            raise
          self._skip(str(e))
          yield None
          continue
        kind = 'image' if entry.is_image else 'video'
        yield RawItem(
            entry.relpath,
            entry.caption,
            video,
            item_fps,
            json.dumps({'kind': kind, 'path': entry.relpath}),
        )

  def _skip(self, reason: str):
    self.skipped.append(reason)
    logging.warning('prepare: skipping bad item (%d so far): %s', len(self.skipped), reason)


def _fit_videos(source: _Source, count: int) -> list[np.ndarray]:
  """The first `count` train clips (videos first) for fitting the visual tokenizer."""
  out = []
  for item in source.items('train'):
    if len(out) >= count:
      break
    if item is not None:
      out.append(item.video)
  return out


# -----------------------------------------------------------------------------------------------
# prepare
# -----------------------------------------------------------------------------------------------


def _tokenized(
    source: _Source,
    split: str,
    vq: patch_vq.VisualTokenizer,
    text_tokenizer,
    checks: records.Checks,
    on_bad: Callable[[str], None],
    progress,
    chunk_size: int,
) -> Iterator[dict]:
  """Record dicts of a split, encoding up to `chunk_size` clips of equal shape together."""

  def flush(chunk: list[RawItem]) -> Iterator[dict]:
    shapes = {c.video.shape for c in chunk}
    if len(shapes) == 1:
      codes = vq.encode(np.stack([c.video for c in chunk]))
    else:
      codes = [vq.encode(c.video) for c in chunk]
    for item, c in zip(chunk, codes):
      progress.update(1)
      try:
        text_ids = np.asarray(text_tokenizer.encode(item.caption), np.int32)
        grid = np.asarray(c.shape, np.int32)
        records.check_item(text_ids, c, grid, item.fps, checks)
      except (ValueError, TypeError) as e:
        on_bad(f'{split} item {item.id}: {e}')
        continue
      yield {
          'id': item.id,
          'caption': item.caption,
          'text_ids': text_ids,
          'codes': c.reshape(-1).astype(np.int32),
          'grid': grid,
          'fps': np.int32(item.fps),
          'attributes': item.attributes,
      }

  chunk: list[RawItem] = []
  for item in source.items(split):
    if item is None:
      progress.update(1)
      continue
    if chunk and (len(chunk) >= chunk_size or item.video.shape != chunk[0].video.shape):
      yield from flush(chunk)
      chunk = []
    chunk.append(item)
  if chunk:
    yield from flush(chunk)


class _Progress:
  """A tqdm bar when tqdm is importable, else periodic log lines."""

  def __init__(self, total: int, desc: str):
    try:
      from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top

      self._bar = tqdm(total=total, desc=desc, unit='item', file=sys.stderr)
    except ImportError:
      self._bar = None
    self.total, self.desc, self.n, self._last = total, desc, 0, time.time()

  def update(self, n: int):
    self.n += n
    if self._bar is not None:
      self._bar.update(n)
    elif time.time() - self._last > 10:
      logging.info('%s: %d/%d', self.desc, self.n, self.total)
      self._last = time.time()

  def close(self):
    if self._bar is not None:
      self._bar.close()


def prepare(data: DataConfig, vocab: Vocab, *, force: bool = False) -> pathlib.Path:
  """Prepares the data set of `data` for `vocab` and returns its version directory.

  Idempotent: if the version directory of these settings exists, logs that and returns it
  (unless `force`, which rebuilds it).
  """
  d = data
  out = version_dir(data, vocab)
  if (out / 'meta.json').is_file() and not force:
    logging.info('data already prepared in %s (version of this config)', out)
    return out
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = out.parent / f'.{out.name}.tmp-{uuid.uuid4().hex[:8]}'
  start = time.time()
  logging.info('preparing %s data into %s', d.source, out)
  try:
    _build(data, vocab, tmp, out.name)
    if out.exists() and (force or not (out / 'meta.json').is_file()):
      shutil.rmtree(out)
    try:
      os.replace(tmp, out)
    except OSError:
      if not (out / 'meta.json').is_file():
        raise
      logging.info('%s was prepared concurrently by another process; keeping it', out)
      shutil.rmtree(tmp)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  logging.info('prepared %s in %.1fs', out, time.time() - start)
  return out


def _build(data: DataConfig, vocab: Vocab, tmp: pathlib.Path, out_name: str):
  d = data
  source = _Source(data)
  tmp.mkdir(parents=True)

  tk = d.tokenizer
  if tk.kind == 'cosmos':
    vq = visual.load_cosmos(visual.cosmos_dir(tk), tk.dtype)
    tokenizer_meta = {'kind': 'cosmos', 'path': str(pathlib.Path(tk.path).resolve())}
  else:
    num_skipped = len(source.skipped)
    fit = _fit_videos(source, tk.fit_items)
    del source.skipped[num_skipped:]  # the tokenizing pass below meets (and counts) them again
    if not fit:
      raise ValueError('no train items to fit the visual tokenizer on')
    vq = patch_vq.PatchVQ.fit(
        fit,
        codebook_size=vocab.codebook_size,
        patch_size=tk.patch_size,
        iters=tk.iters,
        seed=d.seed,
    )
    vq.save(tmp / visual.PATCH_VQ_FILE)
    tokenizer_meta = {
        'kind': 'patch_vq',
        'psnr_db': round(float(vq.psnr(fit[:32])), 2),
        'patch_size': vq.patch_size,
    }
    del fit
  try:
    patch_vq.check_vocab(vq, vocab)
  except ValueError as e:
    raise UserError(f'data.tokenizer (kind={tk.kind!r}) and config.vocab do not fit: {e}') from e

  text_tokenizer = text_lib.for_vocab(vocab, d.text_tokenizer or None)
  checks = records.Checks.for_vocab(vocab, d.max_text_tokens)
  bad = source.skipped

  def on_bad(reason: str):
    if d.on_bad_item != 'skip':
      raise ValueError(reason)
    source._skip(reason)  # pylint: disable=protected-access

  kinds: dict[str, dict[str, int]] = {}

  def split_examples(split: str) -> Callable[[], Iterable[dict]]:
    def gen():
      total = sum(source.counts[split])
      progress = _Progress(total, f'tokenizing {split}')
      counts = {'video': 0, 'image': 0}
      try:
        for ex in _tokenized(
            source, split, vq, text_tokenizer, checks, on_bad, progress, _ENCODE_CHUNK[tk.kind]
        ):
          kind = json.loads(ex['attributes'])['kind']
          if kind == 'video' and counts['image']:
            raise AssertionError('videos must precede images within a split')
          counts[kind] += 1
          yield ex
      finally:
        progress.close()
      kinds[split] = counts

    return gen

  splits = [s for s in SPLITS if sum(source.counts[s])]
  if 'train' not in splits:
    raise ValueError('the train split is empty')
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  tfds.disable_progress_bar()  # ours counts items with a known total
  try:
    records.write(
        tmp / 'records',
        {s: split_examples(s) for s in splits},
        num_shards=d.num_shards or None,
    )
  finally:
    tfds.enable_progress_bar()
  shutil.rmtree(tmp / 'records' / '.downloads', ignore_errors=True)
  if bad:
    logging.warning('prepare: skipped %d bad items in total', len(bad))

  meta = {
      'version': out_name,
      'spec': data_spec(data, vocab),
      'splits': {
          s: {
              'num_items': kinds[s]['video'] + kinds[s]['image'],
              'videos': [0, kinds[s]['video']],
              'images': [kinds[s]['video'], kinds[s]['video'] + kinds[s]['image']],
          }
          for s in splits
      },
      'skipped': bad,
      'tokenizer': {**tokenizer_meta, 'codebook_size': vq.codebook_size},
      'codebook_size': vocab.codebook_size,
  }
  (tmp / 'meta.json').write_text(json.dumps(meta, indent=1))


# -----------------------------------------------------------------------------------------------
# Readers for the rest of the package
# -----------------------------------------------------------------------------------------------


def ensure_prepared(data: DataConfig, vocab: Vocab) -> pathlib.Path:
  """The version directory; synthetic data is prepared on first use, user data must be."""
  out = version_dir(data, vocab)
  if (out / 'meta.json').is_file():
    return out
  if data.source == 'synthetic':
    logging.info('data: first use of this synthetic data set: preparing its records in %s', out)
    return prepare(data, vocab)
  raise UserError(
      f'{out}: data not prepared for this config; run `python -m lumos_jax prepare '
      '--config=...` with the same data settings'
  )


def load_meta(data: DataConfig, vocab: Vocab) -> dict:
  return records.load_meta(ensure_prepared(data, vocab))


def load_tokenizer(data: DataConfig, vocab: Vocab) -> patch_vq.VisualTokenizer:
  """The visual tokenizer of these data settings (prepares synthetic data if needed)."""
  version = ensure_prepared(data, vocab)
  if data.tokenizer.kind == 'cosmos':
    return visual.load_cosmos(visual.cosmos_dir(data.tokenizer), data.tokenizer.dtype)
  return patch_vq.PatchVQ.load(version / visual.PATCH_VQ_FILE)


def record_source(data: DataConfig, vocab: Vocab, split: str = 'train') -> records.RecordSource:
  """Checked random access to a split's records."""
  out = ensure_prepared(data, vocab)
  checks = records.Checks.for_vocab(vocab, data.max_text_tokens)
  return records.RecordSource(records.builder_dir(out / 'records'), split, checks)


def read_items(
    data: DataConfig,
    vocab: Vocab,
    split: str = 'heldout',
    kind: str | None = None,
    limit: int | None = None,
) -> list[records.Record]:
  """Records of a split (optionally only 'video' or 'image' items, the first `limit`), in
  stored order."""
  meta = load_meta(data, vocab)
  if split not in meta['splits']:
    return []
  source = record_source(data, vocab, split)
  lo, hi = 0, len(source)
  if kind is not None:
    lo, hi = meta['splits'][split][{'video': 'videos', 'image': 'images'}[kind]]
  if limit is not None:
    hi = min(hi, lo + limit)
  return [source[i] for i in range(lo, hi)]


def attributes_of(record: records.Record) -> synthetic.Attributes | dict:
  """The synthetic `Attributes` of a record (a plain dict for user items)."""
  a = json.loads(record.attributes)
  if a.pop('kind', None) is None or 'shape' not in a:
    return a
  if a.get('start') is not None:
    a['start'] = tuple(a['start'])
  return synthetic.Attributes(**a)
