# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Resumable, data-parallel pre-tokenization: each process encodes its share into committed parts.

Items are numbered n = 0, 1, ... in record order (splits, then videos before images, then the
captions file's order). Process p of P (`Share`) owns the items with n % P == p. While a version
is being prepared, its work lives next to it, under data.dir:

  .<version>.partial/parts/<p>-of-<P>-<k>.array_record   records of the share's k-th part
  .<version>.partial/parts/<p>-of-<P>-<k>.json           its manifest: item numbers done, skipped

A part's records are written under a temporary name and renamed, then its manifest the same way,
so a manifest exists only for a complete part (`Parts.commit`). A killed process loses at most
the items it had not committed; when restarted it skips every item that any manifest lists
(`Parts.committed`), so nothing is encoded twice. The records are serialized TFDS examples of
`records.features()`; `prepare.py` merges all parts, in item order, into the TFDS records once
every item is done, so the result does not depend on the number of processes or on restarts.

The processes need a shared file system (as training does for the records) and nothing else: no
jax.distributed, so a share can be restarted alone.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import re
import uuid
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from array_record.python import array_record_module

from lumos_jax.errors import UserError

PARTS = 'parts'
_PART = re.compile(r'^(\d+)-of-(\d+)-(\d+)\.json$')


@dataclasses.dataclass(frozen=True)
class Share:
  """Process `index` of `count`: it owns the items n with n % count == index."""

  index: int = 0
  count: int = 1

  def __post_init__(self):
    if not 0 <= self.index < self.count:
      raise UserError(
          f'prepare share: process index {self.index} not in [0, {self.count}) '
          '(--process_id / --num_processes, or SLURM_PROCID / SLURM_NTASKS)'
      )

  def owns(self, n: int) -> bool:
    return n % self.count == self.index

  def __str__(self) -> str:
    return f'{self.index}-of-{self.count}'


def share_from_env(process_id: int | None = None, num_processes: int | None = None) -> Share:
  """This process's share: explicit values, else an `srun` task (SLURM_PROCID of SLURM_NTASKS),
  else a Cloud TPU worker (TPU_WORKER_ID of the TPU_WORKER_HOSTNAMES), else the only one."""
  if (process_id is None) != (num_processes is None):
    raise UserError('give both --process_id and --num_processes, or neither')
  if process_id is not None:
    return Share(process_id, num_processes)
  env = os.environ
  if 'SLURM_PROCID' in env and 'SLURM_NTASKS' in env:
    return Share(int(env['SLURM_PROCID']), int(env['SLURM_NTASKS']))
  hosts = [h for h in env.get('TPU_WORKER_HOSTNAMES', '').split(',') if h]
  if len(hosts) > 1 and 'TPU_WORKER_ID' in env:
    return Share(int(env['TPU_WORKER_ID']), len(hosts))
  return Share()


@dataclasses.dataclass(frozen=True)
class Done:
  """Where a finished item is: its part and position, or why it was skipped."""

  part: pathlib.Path | None  # the .array_record file (None: skipped)
  position: int = -1
  skipped: str = ''


class Parts:
  """The committed parts of a partial version directory."""

  def __init__(self, partial: str | os.PathLike):
    self.dir = pathlib.Path(partial) / PARTS
    self.dir.mkdir(parents=True, exist_ok=True)

  def committed(self) -> dict[int, Done]:
    """Every finished item of every share: item number -> `Done` (first manifest wins)."""
    done: dict[int, Done] = {}
    for manifest in sorted(self.dir.glob('*.json')):
      if not _PART.match(manifest.name):
        continue
      try:
        entry = json.loads(manifest.read_text())
      except (OSError, json.JSONDecodeError) as e:
        raise UserError(
            f'{manifest}: unreadable manifest of a committed part ({e}); delete it and its '
            '.array_record to encode that part again'
        ) from e
      part = manifest.with_suffix('.array_record')
      for position, n in enumerate(entry['items']):
        done.setdefault(int(n), Done(part, position))
      for n, reason in entry['skipped']:
        done.setdefault(int(n), Done(None, skipped=reason))
    return done

  def commit(self, share: Share, records: list[tuple[int, bytes]], skipped: list[tuple[int, str]]):
    """Writes one part of `share`: the (item number, serialized record) pairs and the skipped
    items with their reasons. Atomic: records first, then the manifest that makes them count."""
    if not records and not skipped:
      return
    matches = [m for m in map(_PART.match, os.listdir(self.dir)) if m]
    mine = [
        int(m.group(3))
        for m in matches
        if (int(m.group(1)), int(m.group(2))) == (share.index, share.count)
    ]
    stem = f'{share}-{max(mine, default=-1) + 1:06d}'
    tmp = self.dir / f'.{stem}.tmp-{uuid.uuid4().hex[:8]}'
    writer = array_record_module.ArrayRecordWriter(os.fspath(tmp), 'group_size:1')
    for _, raw in records:
      writer.write(raw)
    writer.close()
    os.replace(tmp, self.dir / f'{stem}.array_record')
    manifest = {'items': [n for n, _ in records], 'skipped': [[n, r] for n, r in skipped]}
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, self.dir / f'{stem}.json')

  def read(self, done: Iterable[Done]) -> Iterator[bytes]:
    """The serialized records at `done` (in that order); parts are opened as needed."""
    readers: dict[pathlib.Path, array_record_module.ArrayRecordReader] = {}
    try:
      for d in done:
        reader = readers.get(d.part)
        if reader is None:
          if len(readers) >= 64:  # items come roughly share by share: keep few files open
            readers.pop(next(iter(readers))).close()
          reader = readers[d.part] = array_record_module.ArrayRecordReader(
              os.fspath(d.part), options='readahead_buffer_size:0'
          )
        yield reader.read([d.position])[0]
    finally:
      for reader in readers.values():
        reader.close()


def _loaded(
    items: Sequence[Any], load: Callable[[Any], Any], threads: int, ahead: int
) -> Iterator[tuple[Any, concurrent.futures.Future]]:
  """(item, future of load(item)) in order, decoding up to `ahead` items in `threads` threads
  (decoding media is most of the host's work; the device encodes meanwhile)."""
  with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
    window: collections.deque = collections.deque()
    pending = iter(items)
    for item in pending:
      window.append((item, pool.submit(load, item)))
      if len(window) >= ahead:
        break
    while window:
      yield window.popleft()
      for item in pending:
        window.append((item, pool.submit(load, item)))
        break


@dataclasses.dataclass
class Encoder:
  """How a share's items become records (prepare.py builds it for the configured tokenizer).

  Attributes:
    load: item -> `raw_items.RawItem`; raises `user_source.SourceError` for a bad media file.
    encode: clips of one shape (uint8 [T, H, W, 3] each) -> their codes (int [t, h, w] each).
    batch_size: clips per `encode` call.
    to_record: (raw item, codes) -> serialized record; ValueError for an invalid item.
    skip_bad: skip (and count) bad items instead of raising.
    on_skip: called with the reason of every skipped item (logging).
  """

  load: Callable[[Any], Any]
  encode: Callable[[list[np.ndarray]], Sequence[np.ndarray]]
  batch_size: int
  to_record: Callable[[Any, np.ndarray], bytes]
  skip_bad: bool
  on_skip: Callable[[str], None]


def encode_share(
    parts: Parts,
    share: Share,
    todo: Sequence[Any],
    encoder: Encoder,
    *,
    commit_every: int,
    threads: int,
    progress: Callable[[int], None],
) -> None:
  """Encodes the `todo` items (each with an item number `n`) into committed parts of `share`.

  Clips of the same shape are encoded together, `encoder.batch_size` at a time; every
  `commit_every` finished items (encoded or skipped) are committed as one part, so a kill loses
  at most that many. `progress(k)` is called as items finish.
  """
  groups: dict[tuple, list] = {}
  done: list[tuple[int, bytes]] = []
  skipped: list[tuple[int, str]] = []

  def bad(item, reason: str):
    if not encoder.skip_bad:
      raise UserError(f"{reason} (data.on_bad_item='skip' skips such items)")
    encoder.on_skip(reason)
    skipped.append((item.n, reason))
    progress(1)

  def flush(shape):
    group = groups.pop(shape)
    codes = encoder.encode([raw.video for _, raw in group])
    for (item, raw), c in zip(group, codes):
      try:
        done.append((item.n, encoder.to_record(raw, np.asarray(c))))
      except ValueError as e:
        bad(item, f'{item.split} item {raw.id}: {e}')
        continue
      progress(1)

  def commit():
    for shape in list(groups):
      flush(shape)
    parts.commit(share, done, skipped)
    done.clear()
    skipped.clear()

  ahead = 2 * max(threads, encoder.batch_size)
  for item, future in _loaded(todo, encoder.load, threads, ahead):
    try:
      raw = future.result()
    except UserError as e:  # user_source.SourceError: the file names itself
      bad(item, str(e))
    else:
      group = groups.setdefault(raw.video.shape, [])
      group.append((item, raw))
      if len(group) >= encoder.batch_size:
        flush(raw.video.shape)
    if len(done) + len(skipped) + sum(map(len, groups.values())) >= commit_every:
      commit()
  commit()
