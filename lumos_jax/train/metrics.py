# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Where training metrics go: `metrics.jsonl`, TensorBoard event files and the console.

One JSON object per logged step is appended to `WORKDIR/metrics.jsonl`, so a resumed run adds its
steps to the same file (steps between the last checkpoint and a crash appear twice; readers keep
the last record of a step). Non-finite floats are written as null (strict JSON). Only process 0
writes.

TensorBoard scalars go to `WORKDIR/tensorboard/events.out.tfevents.*`, written here directly: an
event file is a TFRecord file of `Event` protobufs, and scalars need three tiny messages, so no
TensorFlow/tensorboardX dependency is needed (`read_events` reads them back).
"""

from __future__ import annotations

import json
import math
import pathlib
import socket
import struct
import sys
import time
from typing import Any, Iterator, Mapping

import numpy as np
import tqdm

METRICS_FILE = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'


# -----------------------------------------------------------------------------------------------
# TensorBoard event files (TFRecord framing + hand-encoded Event / Summary protobufs)
# -----------------------------------------------------------------------------------------------


def _crc32c_table() -> list[int]:
  table = []
  for n in range(256):
    c = n
    for _ in range(8):
      c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    table.append(c)
  return table


_CRC_TABLE = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
  crc = 0xFFFFFFFF
  for b in data:
    crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
  crc ^= 0xFFFFFFFF
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF  # TFRecord's masking


def _varint(n: int) -> bytes:
  n &= (1 << 64) - 1
  out = bytearray()
  while True:
    byte, n = n & 0x7F, n >> 7
    out.append(byte | (0x80 if n else 0))
    if not n:
      return bytes(out)


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
  key = _varint(number << 3 | wire_type)
  if wire_type == 2:  # length-delimited
    return key + _varint(len(payload)) + payload
  return key + payload


def _event(step: int, wall_time: float, *, scalars: Mapping[str, float] = (),
           file_version: str | None = None) -> bytes:
  """Event{wall_time=1: double, step=2: int64, file_version=3: string, summary=5: Summary}."""
  out = _field(1, 1, struct.pack('<d', wall_time)) + _field(2, 0, _varint(step))
  if file_version is not None:
    out += _field(3, 2, file_version.encode())
  values = b''.join(  # Summary.value=1: Value{tag=1: string, simple_value=2: float}
      _field(1, 2, _field(1, 2, tag.encode()) + _field(2, 5, struct.pack('<f', value)))
      for tag, value in dict(scalars).items())
  if values:
    out += _field(5, 2, values)
  return out


class EventFileWriter:
  """Appends scalar summaries to a new TensorBoard event file in `logdir`."""

  def __init__(self, logdir: str | pathlib.Path):
    logdir = pathlib.Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    now = time.time()
    self.path = logdir / f'events.out.tfevents.{int(now)}.{socket.gethostname()}'
    self._file = open(self.path, 'ab')  # pylint: disable=consider-using-with
    self._write(_event(0, now, file_version='brain.Event:2'))
    self.flush()

  def _write(self, record: bytes) -> None:
    header = struct.pack('<Q', len(record))
    self._file.write(header + struct.pack('<I', _masked_crc32c(header)) + record +
                     struct.pack('<I', _masked_crc32c(record)))

  def scalars(self, step: int, values: Mapping[str, float]) -> None:
    if values:
      self._write(_event(step, time.time(), scalars=values))

  def flush(self) -> None:
    self._file.flush()

  def close(self) -> None:
    self._file.close()


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
  shift = value = 0
  while True:
    byte = data[pos]
    pos += 1
    value |= (byte & 0x7F) << shift
    shift += 7
    if not byte & 0x80:
      return value, pos


def _fields(data: bytes) -> Iterator[tuple[int, Any]]:
  pos = 0
  while pos < len(data):
    key, pos = _read_varint(data, pos)
    number, wire_type = key >> 3, key & 7
    if wire_type == 0:
      value, pos = _read_varint(data, pos)
    elif wire_type == 1:
      value, pos = data[pos:pos + 8], pos + 8
    elif wire_type == 5:
      value, pos = data[pos:pos + 4], pos + 4
    elif wire_type == 2:
      length, pos = _read_varint(data, pos)
      value, pos = data[pos:pos + length], pos + length
    else:
      raise ValueError(f'unsupported protobuf wire type {wire_type}')
    yield number, value


def read_events(logdir: str | pathlib.Path) -> list[tuple[str, int, float]]:
  """(tag, step, value) of every scalar in a directory's event files, checking the CRCs."""
  out = []
  for path in sorted(pathlib.Path(logdir).glob('events.out.tfevents.*')):
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
      header = data[pos:pos + 8]
      (length,) = struct.unpack('<Q', header)
      record = data[pos + 12:pos + 12 + length]
      if (struct.unpack('<I', data[pos + 8:pos + 12])[0] != _masked_crc32c(header) or
          struct.unpack('<I', data[pos + 12 + length:pos + 16 + length])[0]
          != _masked_crc32c(record)):
        raise ValueError(f'{path}: corrupt record at byte {pos}')
      pos += 16 + length
      step = 0
      for number, value in _fields(record):
        if number == 2:
          step = value
        elif number == 5:
          for _, summary_value in _fields(value):
            fields = dict(_fields(summary_value))
            out.append((fields[1].decode(), step, struct.unpack('<f', fields[2])[0]))
  return out


def _json_value(x: Any) -> Any:
  if isinstance(x, np.ndarray) and x.ndim == 0:
    x = x.item()
  if isinstance(x, (list, tuple, np.ndarray)):
    return [_json_value(v) for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
  if isinstance(x, (float, np.floating)):
    x = float(x)
    return x if math.isfinite(x) else None
  if isinstance(x, (np.integer, np.bool_)):
    return x.item()
  return x


def read_metrics(workdir: str | pathlib.Path) -> list[dict]:
  """All records of a workdir's metrics.jsonl, in file order."""
  path = pathlib.Path(workdir) / METRICS_FILE
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def console_line(record: Mapping[str, Any], num_steps: int) -> str:
  """A short human line: step, loss, lr, grad norm, mask ratio, throughput, held-out loss."""

  def fmt(key, spec, label=None):
    v = record.get(key)
    return None if v is None else f'{label or key} {v:{spec}}'

  parts = [
      f"step {record['step']}/{num_steps}",
      fmt('loss', '.4f'),
      fmt('lr', '.2e'),
      fmt('grad_norm', '.3f', 'gnorm'),
      fmt('mask_ratio', '.2f', 'mask'),
      fmt('tokens_per_s', '.3g', 'tok/s'),
      fmt('eval_loss', '.4f', 'heldout'),
  ]
  if record.get('skipped_total'):
    parts.append(f"skipped {record['skipped_total']}")
  return ' | '.join(p for p in parts if p)


class MetricsWriter:
  """Appends records to metrics.jsonl and TensorBoard; prints a line per record.

  Args:
    workdir: the run directory.
    num_steps: total steps (progress bar and console lines).
    start_step: the step the run starts from (resume).
    enabled: False on processes other than 0: nothing is written or printed.
    progress_bar: show a tqdm bar (on terminals only).
  """

  def __init__(self, workdir: str | pathlib.Path, *, num_steps: int, start_step: int = 0,
               enabled: bool = True, progress_bar: bool = True):
    self.enabled = enabled
    self.num_steps = num_steps
    self._file = self._tb = self._bar = None
    if not enabled:
      return
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    self._file = open(workdir / METRICS_FILE, 'a', encoding='utf-8')  # pylint: disable=R1732
    self._tb = EventFileWriter(workdir / TENSORBOARD_DIR)
    # disable=None: tqdm turns itself off when stderr is not a terminal (log files stay clean).
    self._bar = tqdm.tqdm(total=num_steps, initial=start_step,
                          disable=None if progress_bar else True,
                          dynamic_ncols=True, unit='step', file=sys.stderr)

  def advance(self, n: int = 1) -> None:
    if self._bar is not None:
      self._bar.update(n)

  def write(self, record: Mapping[str, Any]) -> dict:
    """Writes one record (must hold 'step'); returns it as written (JSON values)."""
    record = {k: _json_value(v) for k, v in record.items()}
    if not self.enabled:
      return record
    self._file.write(json.dumps(record) + '\n')
    self._file.flush()
    scalars = {}
    for key, value in record.items():
      if key == 'step' or value is None:
        continue
      tag = f'eval/{key[5:]}' if key.startswith('eval_') else f'train/{key}'
      if isinstance(value, list):
        for i, v in enumerate(value):
          if v is not None:
            scalars[f'{tag}/{i}'] = v
      elif isinstance(value, (int, float)) and not isinstance(value, bool):
        scalars[tag] = value
    self._tb.scalars(record['step'], scalars)
    self._tb.flush()
    line = console_line(record, self.num_steps)
    if self._bar is not None and not self._bar.disable:
      self._bar.set_postfix_str(f"loss {record.get('loss') or float('nan'):.4f}", refresh=False)
      self._bar.write(line, file=sys.stdout)
    else:
      print(line, flush=True)
    return record

  def message(self, text: str) -> None:
    """A console message that does not break the progress bar."""
    if not self.enabled:
      return
    if self._bar is not None and not self._bar.disable:
      self._bar.write(text, file=sys.stdout)
    else:
      print(text, flush=True)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
    if self._tb is not None:
      self._tb.close()
    if self._file is not None:
      self._file.close()
    self._file = self._tb = self._bar = None
