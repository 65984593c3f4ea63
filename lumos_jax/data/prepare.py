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

Pre-tokenization is data-parallel and resumable (lumos_jax/data/pretokenize.py): process p of P
(`--process_id/--num_processes`, or an `srun` task, or a TPU worker) encodes every P-th item with
all its local devices into committed parts under `.<version>.partial/`; a killed process, run
again, skips the items it committed; the last share to finish merges the parts, in item order,
into the records, so they do not depend on the number of processes or on restarts.
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
from typing import Any, Callable, Iterable

import numpy as np
from absl import logging

from lumos_jax.data import pretokenize, raw_items, records, synthetic, user_source
from lumos_jax.data.config import DataConfig
from lumos_jax.errors import UserError
from lumos_jax.tokenizers import patch_vq, text as text_lib, visual
from lumos_jax.vocab import Vocab

FORMAT_VERSION = 1  # bump when the record contents or layout change


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
    spec['crop_target'] = d.user.crop_target
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
# The visual tokenizer and the encoder of a share
# -----------------------------------------------------------------------------------------------

_TOKENIZER_META = 'tokenizer_meta.json'  # in the partial directory: the fit's summary
_PATCH_VQ_BATCH = 64  # clips per patch-VQ call: it de-duplicates patches across a call


def _atomic_write(path: pathlib.Path, write: Callable[[pathlib.Path], None]) -> None:
  tmp = path.with_name(f'.{path.name}.tmp-{uuid.uuid4().hex[:8]}')
  write(tmp)
  os.replace(tmp, path)


def _tokenizer(data: DataConfig, vocab: Vocab, source: raw_items.Source, partial: pathlib.Path):
  """(tokenizer, meta): Cosmos from its files; the patch VQ fitted once per version and kept in
  the partial directory, so every share and every restart encodes with the same codebook."""
  tk = data.tokenizer
  if tk.kind == 'cosmos':
    vq = visual.load_cosmos(visual.cosmos_dir(tk), tk.dtype)
    meta = {'kind': 'cosmos', 'path': str(pathlib.Path(tk.path).resolve())}
  elif (partial / _TOKENIZER_META).is_file():
    vq = patch_vq.PatchVQ.load(partial / visual.PATCH_VQ_FILE)
    meta = json.loads((partial / _TOKENIZER_META).read_text())
  else:
    fit = source.fit_videos(tk.fit_items)
    if not fit:
      raise ValueError('no train items to fit the visual tokenizer on')
    vq = patch_vq.PatchVQ.fit(
        fit,
        codebook_size=vocab.codebook_size,
        patch_size=tk.patch_size,
        iters=tk.iters,
        seed=data.seed,
    )
    meta = {
        'kind': 'patch_vq',
        'psnr_db': round(float(vq.psnr(fit[:32])), 2),
        'patch_size': vq.patch_size,
    }
    _atomic_write(partial / visual.PATCH_VQ_FILE, vq.save)
    _atomic_write(partial / _TOKENIZER_META, lambda p: p.write_text(json.dumps(meta)))
  try:
    patch_vq.check_vocab(vq, vocab)
  except ValueError as e:
    raise UserError(f'data.tokenizer (kind={tk.kind!r}) and config.vocab do not fit: {e}') from e
  return vq, meta


def _cosmos_encode(vq) -> tuple[Callable[[list[np.ndarray]], np.ndarray], int]:
  """(encode, batch size): one clip per local device, data-parallel over a mesh of this
  process's devices; batches are padded to the full size, so each clip shape compiles once."""
  import jax  # pylint: disable=g-import-not-at-top

  from lumos_jax import parallel  # pylint: disable=g-import-not-at-top

  devices = jax.local_devices()
  # Alone, a process uses all its devices; inside a multi-process jax run (training preparing
  # its data) a computation over one process's devices is not SPMD over the job: use one.
  mesh = None
  if len(devices) > 1 and jax.process_count() == 1:
    mesh = parallel.make_mesh((len(devices), 1, 1), devices)
  batch = len(devices) if mesh is not None else 1

  def encode(clips: list[np.ndarray]) -> np.ndarray:
    x = np.stack(clips + [np.zeros_like(clips[0])] * (batch - len(clips)))
    return vq.encode(x, mesh)[: len(clips)]

  return encode, batch


def _encoder(data: DataConfig, vocab: Vocab, source: raw_items.Source, vq) -> pretokenize.Encoder:
  text_tokenizer = text_lib.for_vocab(vocab, data.text_tokenizer or None)
  checks = records.Checks.for_vocab(vocab, data.max_text_tokens)
  features = records.features()

  def to_record(item: raw_items.RawItem, codes: np.ndarray) -> bytes:
    text_ids = np.asarray(text_tokenizer.encode(item.caption), np.int32)
    grid = np.asarray(codes.shape, np.int32)
    records.check_item(text_ids, codes, grid, item.fps, checks)
    return features.serialize_example(
        {
            'id': item.id,
            'caption': item.caption,
            'text_ids': text_ids,
            'codes': codes.reshape(-1).astype(np.int32),
            'grid': grid,
            'fps': np.int32(item.fps),
            'attributes': item.attributes,
        }
    )

  if data.tokenizer.kind == 'cosmos':
    encode, batch = _cosmos_encode(vq)
  else:
    encode, batch = (lambda clips: vq.encode(np.stack(clips))), _PATCH_VQ_BATCH
  return pretokenize.Encoder(
      load=source.load,
      encode=encode,
      batch_size=batch,
      to_record=to_record,
      skip_bad=data.on_bad_item == 'skip',
      on_skip=lambda reason: logging.warning('prepare: skipping bad item: %s', reason),
  )


class _Progress:
  """A tqdm bar (items/s) when tqdm is importable, else periodic log lines with the rate."""

  def __init__(self, total: int, done: int, desc: str):
    try:
      from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top

      self._bar = tqdm(total=total, initial=done, desc=desc, unit='item', file=sys.stderr)
    except ImportError:
      self._bar = None
    self.total, self.desc, self.n, self._start = total, desc, done, time.time()
    self._first, self._last = done, self._start

  def update(self, n: int):
    self.n += n
    if self._bar is not None:
      self._bar.update(n)
    elif time.time() - self._last > 10:
      rate = (self.n - self._first) / (time.time() - self._start)
      logging.info('%s: %d/%d (%.2f items/s)', self.desc, self.n, self.total, rate)
      self._last = time.time()

  def close(self):
    if self._bar is not None:
      self._bar.close()


# -----------------------------------------------------------------------------------------------
# prepare
# -----------------------------------------------------------------------------------------------


def partial_dir(data: DataConfig, vocab: Vocab) -> pathlib.Path:
  """Where the shares of a version being prepared commit their parts (pretokenize.py)."""
  out = version_dir(data, vocab)
  return out.parent / f'.{out.name}.partial'


def prepare(
    data: DataConfig,
    vocab: Vocab,
    *,
    force: bool = False,
    share: pretokenize.Share | None = None,
) -> pathlib.Path:
  """Prepares the data set of `data` for `vocab` (this process's `share` of it); returns the
  version directory, which holds the records once every share is done.

  Idempotent and resumable: a prepared version is returned as is (unless `force`, which rebuilds
  it; one process only); items committed by an earlier, killed run are not encoded again. The
  process that finds every item done (the last share to finish) merges the parts into the
  records, so with several processes the others return before the records exist (`is_prepared`).
  """
  share = share or pretokenize.Share()
  out = version_dir(data, vocab)
  partial = partial_dir(data, vocab)
  if force:
    if share.count > 1:
      raise UserError(f'--force rebuilds {out} from one process; got {share.count} processes')
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)
  if (out / 'meta.json').is_file():
    logging.info('data already prepared in %s (version of this config)', out)
    return out
  start = time.time()
  source = raw_items.Source(data)
  if not any(p.split == 'train' for p in source.plan):
    raise ValueError('the train split is empty')
  partial.mkdir(parents=True, exist_ok=True)
  parts = pretokenize.Parts(partial)
  vq, tokenizer_meta = _tokenizer(data, vocab, source, partial)
  done = parts.committed()
  mine = [p for p in source.plan if share.owns(p.n)]
  todo = [p for p in mine if p.n not in done]
  logging.info(
      'preparing %s data into %s: share %s, %d items (%d done before)',
      data.source,
      out,
      share,
      len(mine),
      len(mine) - len(todo),
  )
  progress = _Progress(len(mine), len(mine) - len(todo), f'pre-tokenizing share {share}')
  try:
    pretokenize.encode_share(
        parts,
        share,
        todo,
        _encoder(data, vocab, source, vq),
        commit_every=data.commit_every,
        threads=data.read_threads,
        progress=progress.update,
    )
  finally:
    progress.close()
  rate = len(todo) / max(time.time() - start, 1e-9)
  logging.info(
      'share %s: %d items encoded in %.1fs (%.2f items/s)',
      share,
      len(todo),
      time.time() - start,
      rate,
  )
  done = parts.committed()
  missing = sum(p.n not in done for p in source.plan)
  if missing:
    logging.info(
        'share %s done; %d items of other shares to go: the last share to finish writes the '
        'records',
        share,
        missing,
    )
    return out
  _merge(data, vocab, source, parts, done, tokenizer_meta, out)
  logging.info('prepared %s in %.1fs', out, time.time() - start)
  return out


def _merge(
    data: DataConfig,
    vocab: Vocab,
    source: raw_items.Source,
    parts: pretokenize.Parts,
    done: dict[int, pretokenize.Done],
    tokenizer_meta: dict,
    out: pathlib.Path,
) -> None:
  """Writes every committed item, in item order, as the TFDS records of `out` (atomically), with
  meta.json; then removes the partial directory."""
  partial = parts.dir.parent
  tmp = out.parent / f'.{out.name}.tmp-{uuid.uuid4().hex[:8]}'
  features = records.features()
  kinds: dict[str, dict[str, int]] = {}
  skipped = list(source.skipped) + [done[p.n].skipped for p in source.plan if done[p.n].skipped]

  def split_examples(split: str) -> Callable[[], Iterable[dict]]:
    items = [p for p in source.plan if p.split == split and done[p.n].part is not None]

    def gen():
      counts = kinds[split] = {'video': 0, 'image': 0}
      for item, raw in zip(items, parts.read(done[p.n] for p in items)):
        counts[item.kind] += 1
        ex = features.deserialize_example_np(raw)
        yield {k: v.decode() if isinstance(v, bytes) else v for k, v in ex.items()}

    return gen

  splits = [
      s
      for s in raw_items.SPLITS
      if any(p.split == s and done[p.n].part is not None for p in source.plan)
  ]
  if 'train' not in splits:
    raise UserError(f'{data.user.root or data.source}: no train item could be encoded')
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  tmp.mkdir(parents=True)
  try:
    tfds.disable_progress_bar()
    try:
      records.write(
          tmp / 'records',
          {s: split_examples(s) for s in splits},
          num_shards=data.num_shards or None,
      )
    finally:
      tfds.enable_progress_bar()
    shutil.rmtree(tmp / 'records' / '.downloads', ignore_errors=True)
    if tokenizer_meta['kind'] == 'patch_vq':
      shutil.copyfile(partial / visual.PATCH_VQ_FILE, tmp / visual.PATCH_VQ_FILE)
    if skipped:
      logging.warning('prepare: skipped %d bad items in total', len(skipped))
    meta = {
        'version': out.name,
        'spec': data_spec(data, vocab),
        'splits': {
            s: {
                'num_items': kinds[s]['video'] + kinds[s]['image'],
                'videos': [0, kinds[s]['video']],
                'images': [kinds[s]['video'], kinds[s]['video'] + kinds[s]['image']],
            }
            for s in splits
        },
        'skipped': skipped,
        'tokenizer': {**tokenizer_meta, 'codebook_size': vocab.codebook_size},
        'codebook_size': vocab.codebook_size,
    }
    (tmp / 'meta.json').write_text(json.dumps(meta, indent=1))
    try:
      os.replace(tmp, out)
    except OSError:
      if not (out / 'meta.json').is_file():
        raise
      logging.info('%s was prepared concurrently by another process; keeping it', out)
      shutil.rmtree(tmp)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    if (out / 'meta.json').is_file():  # another share merged first and removed the parts
      return
    raise
  shutil.rmtree(partial, ignore_errors=True)


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
