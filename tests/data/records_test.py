# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""ArrayRecord round trip through the TFDS builder, and every bad-record case raising by name."""

import json
import os
import re

import numpy as np
import pytest
import tensorflow_datasets as tfds

from array_record.python import array_record_module

from lumos_jax import errors
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
  directory = records.write(
      tmp_path / 'rec', {split: lambda: iter(examples)}, num_shards=num_shards
  )
  return directory


def _truncate(path, keep=0.5):
  """Keeps the first `keep` fraction of the file's bytes, as an interrupted copy would."""
  data = path.read_bytes()
  path.write_bytes(data[: int(len(data) * keep)])


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
  _truncate(shard)
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
  failed = []
  for i in range(len(written)):
    try:
      source[i]
    except records.RecordError as e:
      failed.append(i)
      assert os.fspath(shard) in str(e) and f'item {i} ' in str(e)
  assert failed  # detected, never silently returned
  good = [i for i in range(len(written)) if i not in failed]
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
        (
            dict(caption=b'\xff\xfe not utf-8', text_ids=[VOCAB.byte_offset]),
            r'caption is not UTF-8',
        ),
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


# -----------------------------------------------------------------------------------------------
# verify_shards: every shard of every split checked before training starts
# -----------------------------------------------------------------------------------------------


def _write_splits(tmp_path):
  """train and heldout, two shards each (10 + 10 and 8 + 8 records)."""
  train = [_example(i) for i in range(20)]
  heldout = [_example(100 + i) for i in range(16)]
  return records.write(
      tmp_path / 'rec',
      {'train': lambda: iter(train), 'heldout': lambda: iter(heldout)},
      num_shards=2,
  )


def _shard(directory, split, k):
  return directory / f'{records.BUILDER_NAME}-{split}.array_record-{k:05d}-of-00002'


def _verify_error(directory, shard, split, *patterns):
  with pytest.raises(records.RecordError) as e:
    records.verify_shards(directory)
  message = str(e.value)
  # One line for the command line, starting with the file the user has to look at.
  assert message.startswith(f'{shard} (split {split!r}): ') and '\n' not in message, message
  for p in patterns:
    assert re.search(p, message), message
  return e.value


def test_verify_shards_counts_a_good_data_set(tmp_path):
  assert records.verify_shards(_write_splits(tmp_path)) == {'train': 20, 'heldout': 16}


@pytest.mark.parametrize('keep', [0.5, 0.999, 0.0])
def test_verify_shards_reports_truncated_heldout_shard(tmp_path, keep):
  directory = _write_splits(tmp_path)
  shard = _shard(directory, 'heldout', 1)
  _truncate(shard, keep)
  error = _verify_error(
      directory,
      shard,
      'heldout',
      r': 8 records expected \(dataset_info\.json\), 0 readable: file truncated or corrupt; ',
      r'prepare .*--force',
  )
  # The command line prints UserErrors as one line; callers catching ValueError still do.
  assert isinstance(error, errors.UserError) and isinstance(error, ValueError)


def test_verify_shards_reports_deleted_train_shard(tmp_path):
  directory = _write_splits(tmp_path)
  shard = _shard(directory, 'train', 1)
  shard.unlink()
  _verify_error(directory, shard, 'train', r': file missing, 10 records expected \(dataset_info')


@pytest.mark.parametrize(
    'length, pattern',
    [
        (9, r': 9 records expected \(dataset_info\.json\), 8 readable: file truncated or corrupt'),
        (7, r': 7 records expected \(dataset_info\.json\), 8 readable: the file does not match'),
    ],
)
def test_verify_shards_reports_wrong_shard_length(tmp_path, length, pattern):
  directory = _write_splits(tmp_path)
  info_path = directory / 'dataset_info.json'
  info = json.loads(info_path.read_text())
  (heldout,) = [s for s in info['splits'] if s['name'] == 'heldout']
  assert heldout['shardLengths'] == ['8', '8']
  heldout['shardLengths'][1] = str(length)
  info_path.write_text(json.dumps(info))
  _verify_error(directory, _shard(directory, 'heldout', 1), 'heldout', pattern)


def test_verify_shards_reads_the_last_record(tmp_path):
  directory = _write_splits(tmp_path)
  shard = _shard(directory, 'heldout', 0)
  # A shard of the right length whose last record is not an item: it opens and counts right.
  reader = array_record_module.ArrayRecordReader(os.fspath(shard))
  raws = reader.read_all()
  reader.close()
  writer = array_record_module.ArrayRecordWriter(os.fspath(shard), 'group_size:1')
  for raw in raws[:-1] + [b'not a tf.Example']:
    writer.write(raw)
  writer.close()
  _verify_error(
      directory, shard, 'heldout', r': record 7 \(the last\) cannot be read .*truncated or corrupt'
  )


def test_verify_shards_needs_dataset_info(tmp_path):
  directory = _write_splits(tmp_path)
  (directory / 'dataset_info.json').unlink()
  with pytest.raises(records.RecordError, match=r'dataset_info\.json: missing'):
    records.verify_shards(directory)
