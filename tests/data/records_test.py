# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""ArrayRecord round trip through the TFDS builder, and every bad-record case raising by name."""

import os
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds

from lumos_jax import vocab as vocab_lib
from lumos_jax.data import records

VOCAB = vocab_lib.demo(codebook_size=64)
CHECKS = records.Checks.for_vocab(VOCAB, max_text_tokens=64)


def _example(i, *, grid=(2, 4, 4), caption=None, text_ids=None, codes=None, fps=4):
  rng = np.random.default_rng(i)
  caption = caption if caption is not None else f'item {i}: a red circle é'
  if text_ids is None:
    text_ids = [VOCAB.byte_offset + b for b in caption.encode()]
  if codes is None:
    codes = rng.integers(0, 64, int(np.prod(grid)))
  return {
      'id': f'train/video/{i}',
      'caption': caption,
      'text_ids': np.asarray(text_ids, np.int32),
      'codes': np.asarray(codes, np.int32).reshape(-1),
      'grid': np.asarray(grid, np.int32),
      'fps': np.int32(fps),
      'attributes': '{"kind": "video"}',
  }


def _write(tmp_path, examples, num_shards=None, split='train'):
  directory = records.write(tmp_path / 'rec', {split: lambda: iter(examples)},
                            num_shards=num_shards)
  return directory


def test_round_trip_equals_what_was_written(tmp_path):
  written = [_example(i, grid=(1 + i % 3, 4, 4)) for i in range(10)]
  directory = _write(tmp_path, written, num_shards=2)
  assert directory == records.builder_dir(tmp_path / 'rec')
  shards = sorted(p.name for p in directory.glob('*.array_record-*'))
  assert len(shards) == 2
  # Readable by plain TFDS, without TensorFlow, in the order written.
  assert 'tensorflow' not in {m.split('.')[0] for m in list(__import__('sys').modules)}
  ds = tfds.data_source(records.BUILDER_NAME, data_dir=str(tmp_path / 'rec'), split='train')
  assert len(ds) == len(written)
  for got, want in zip(ds, written):
    assert got['id'].decode() == want['id'] and got['caption'].decode() == want['caption']
    for key in ('text_ids', 'codes', 'grid'):
      np.testing.assert_array_equal(got[key], want[key])
    assert int(got['fps']) == int(want['fps'])
  # The checked source gives the same values, with codes shaped by the grid.
  source = records.RecordSource(directory, 'train', CHECKS)
  for i, want in enumerate(written):
    r = source[i]
    assert (r.index, r.id, r.caption, r.fps) == (i, want['id'], want['caption'], 4)
    np.testing.assert_array_equal(r.codes, want['codes'].reshape(want['grid']))
    np.testing.assert_array_equal(r.text_ids, want['text_ids'])
  # Positions map to shards.
  last_shard, position = source.where(len(written) - 1)
  assert last_shard.endswith('00001-of-00002') and position == len(written) - 1 - 5


def _expect_error(source, index, *patterns):
  shard, position = source.where(index)
  with pytest.raises(records.RecordError) as e:
    source[index]
  message = str(e.value)
  assert shard in message and f'record {position}' in message and f'item {index}' in message
  for p in patterns:
    assert re.search(p, message), message


def test_truncated_shard_names_shard_and_record(tmp_path):
  directory = _write(tmp_path, [_example(i) for i in range(50)])
  (shard,) = directory.glob('*.array_record-*')
  data = shard.read_bytes()
  shard.write_bytes(data[: len(data) // 2])
  source = records.RecordSource(directory, 'train', CHECKS)
  _expect_error(source, 7, 'truncated or corrupt shard')


def test_corrupt_bytes_name_shard_and_record(tmp_path):
  written = [_example(i, grid=(4, 8, 8)) for i in range(40)]
  directory = _write(tmp_path, written)
  (shard,) = directory.glob('*.array_record-*')
  source = records.RecordSource(directory, 'train', CHECKS)
  payload = sum(len(source.raw(i)) for i in range(len(written)))  # records come first in a shard
  data = bytearray(shard.read_bytes())
  # Flip bytes in the middle of the records; riegeli's per-chunk hashes must catch it.
  for i in range(payload // 2, payload // 2 + 64):
    data[i] ^= 0xFF
  shard.write_bytes(bytes(data))
  source = records.RecordSource(directory, 'train', CHECKS)
  errors = []
  for i in range(len(written)):
    try:
      source[i]
    except records.RecordError as e:
      errors.append(i)
      assert os.fspath(shard) in str(e) and f'item {i} ' in str(e)
  assert errors  # detected, never silently returned
  good = [i for i in range(len(written)) if i not in errors]
  for i in good:
    np.testing.assert_array_equal(source[i].codes.reshape(-1), written[i]['codes'])


def test_missing_shard_names_the_file(tmp_path):
  directory = _write(tmp_path, [_example(i) for i in range(5)])
  (shard,) = directory.glob('*.array_record-*')
  shard.unlink()
  _expect_error(records.RecordSource(directory, 'train', CHECKS), 2, 'cannot read')


@pytest.mark.parametrize(
    'bad, pattern',
    [
        (dict(codes=np.zeros(30)), r'codes hold 30 values but the declared grid .* needs 32'),
        (dict(grid=(2, 4, 0), codes=np.zeros(0)), r'declared grid .* not three positive sizes'),
        (dict(codes=np.full(32, 64)), r'visual code 64 at position 0 is outside \[0, 64\)'),
        (dict(codes=np.full(32, -1)), r'visual code -1 .* outside'),
        (dict(text_ids=[VOCAB.byte_offset, 10_000]), r'text id 10000 at position 1'),
        (dict(text_ids=[VOCAB.byte_offset, VOCAB.sep]), r'text id 1 at position 1 .*special'),
        (dict(caption=b'\xff\xfe not utf-8', text_ids=[VOCAB.byte_offset]), r'caption is not UTF-8'),
        (dict(text_ids=[VOCAB.byte_offset] * 65), r'caption has 65 tokens.*max_text_tokens=64'),
        (dict(fps=0), r'fps=0'),
    ],
)
def test_bad_item_raises_named_error(tmp_path, bad, pattern):
  written = [_example(0), _example(1, **bad), _example(2)]
  source = records.RecordSource(_write(tmp_path, written), 'train', CHECKS)
  source[0], source[2]  # the good neighbours still read  # pylint: disable=pointless-statement
  _expect_error(source, 1, pattern)


def test_not_prepared_directory(tmp_path):
  with pytest.raises(FileNotFoundError, match='prepare'):
    records.RecordSource(tmp_path, 'train', CHECKS)
  directory = _write(tmp_path, [_example(0)])
  with pytest.raises(ValueError, match="no split 'heldout'"):
    records.RecordSource(directory, 'heldout', CHECKS)
