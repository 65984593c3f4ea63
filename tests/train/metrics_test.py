# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""lumos_jax.train.metrics: TensorBoard event encoding, metrics.jsonl records, console lines."""

import json
import struct

import numpy as np
import pytest

from lumos_jax.train import metrics


def test_crc32c_matches_the_standard_check_value():
  crc = 0xE3069283  # CRC-32C of b'123456789' (RFC 3720 check value)
  masked = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
  assert metrics._masked_crc32c(b'123456789') == masked  # pylint: disable=protected-access


def test_event_protobuf_bytes():
  # Event{wall_time: 1.5, step: 300, summary{value{tag: "a", simple_value: 2.0}}}, encoded by hand
  # from the protobuf wire format: tag bytes are (field << 3 | wire type).
  want = (b'\x09' + struct.pack('<d', 1.5) + b'\x10\xac\x02' +
          b'\x2a\x0a' + b'\x0a\x08' + b'\x0a\x01a' + b'\x15' + struct.pack('<f', 2.0))
  assert metrics._event(300, 1.5, scalars={'a': 2.0}) == want  # pylint: disable=protected-access


def test_event_file_round_trip(tmp_path):
  writer = metrics.EventFileWriter(tmp_path)
  writer.scalars(3, {'train/loss': 1.5, 'eval/loss': -2.25})
  writer.scalars(2**40, {'x': 1e-3})
  writer.close()
  assert metrics.read_events(tmp_path) == [
      ('train/loss', 3, 1.5), ('eval/loss', 3, -2.25), ('x', 2**40, np.float32(1e-3))]
  data = bytearray(writer.path.read_bytes())
  data[-5] ^= 1
  writer.path.write_bytes(bytes(data))
  with pytest.raises(ValueError, match='corrupt record'):
    metrics.read_events(tmp_path)


def test_writer_records_are_strict_json(tmp_path, capsys):
  writer = metrics.MetricsWriter(tmp_path, num_steps=10, progress_bar=False)
  record = writer.write({'step': np.int32(2), 'loss': np.float32(np.nan), 'lr': np.asarray(1e-3),
                         'frame_losses': [1.0, None], 'tokens_per_s': None, 'skipped': 1,
                         'skipped_total': 1})
  writer.close()
  assert record['loss'] is None and record['step'] == 2
  line = (tmp_path / metrics.METRICS_FILE).read_text()
  assert json.loads(line) == record and 'NaN' not in line
  assert metrics.read_metrics(tmp_path) == [record]
  assert capsys.readouterr().out.strip() == 'step 2/10 | lr 1.00e-03 | skipped 1'
  tags = {tag for tag, _, _ in metrics.read_events(tmp_path / metrics.TENSORBOARD_DIR)}
  assert tags == {'train/lr', 'train/frame_losses/0', 'train/skipped', 'train/skipped_total'}


def test_disabled_writer_writes_nothing(tmp_path):
  writer = metrics.MetricsWriter(tmp_path / 'w', num_steps=1, enabled=False)
  writer.write({'step': 1, 'loss': 1.0})
  writer.close()
  assert not (tmp_path / 'w').exists()
