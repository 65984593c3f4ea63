# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Data-parallel, resumable pre-tokenization: shares, committed parts, kill and resume, merge.

In process, on the tiny synthetic data set: two shares, one killed half-way and restarted, give
the same records as a one-shot prepare, and nothing is encoded twice. The real thing (two CLI
processes on a folder of media files with a reduced Cosmos DV) is tests/data/user_folder_test.py.
"""

import json

import numpy as np
import pytest

from lumos_jax.data import prepare, pretokenize
from lumos_jax.data.pretokenize import Share
from lumos_jax.errors import UserError


def _small(make_tiny, path):
  config = make_tiny(path)
  config.data.update(num_train=10, num_train_images=4, num_heldout=3, num_heldout_images=1)
  config.data.tokenizer.fit_items = 6
  config.data.commit_every = 2
  return config


def _records(data, vocab):
  out = {}
  for split in ('train', 'heldout'):
    source = prepare.record_source(data, vocab, split)
    out[split] = [source[i] for i in range(len(source))]
  return out


def _assert_same_records(a, b):
  assert a.keys() == b.keys()
  for split in a:
    assert [r.id for r in a[split]] == [r.id for r in b[split]], split
    for x, y in zip(a[split], b[split]):
      assert (x.caption, x.fps, x.attributes) == (y.caption, y.fps, y.attributes)
      np.testing.assert_array_equal(x.codes, y.codes)
      np.testing.assert_array_equal(x.text_ids, y.text_ids)


_ENCODER = prepare._encoder  # pylint: disable=protected-access


class _Killed(BaseException):
  """Stands for SIGKILL: not an Exception, so nothing on the way up handles it."""


def _counting_encoder(monkeypatch, encoded, kill_after=None):
  """prepare's encoder, recording every clip it encodes; raises _Killed after `kill_after`."""

  def wrapped(*args):
    encoder = _ENCODER(*args)
    encode = encoder.encode

    def counting(clips):
      if kill_after is not None and len(encoded) >= kill_after:
        raise _Killed()
      encoded.extend(c.tobytes() for c in clips)
      return encode(clips)

    encoder.encode = counting
    encoder.batch_size = 1  # one clip per call: the kill lands between two items
    return encoder

  monkeypatch.setattr(prepare, '_encoder', wrapped)


def test_two_shares_killed_and_resumed_equal_one_shot(tmp_path, make_tiny, sections, monkeypatch):
  one_shot = _small(make_tiny, tmp_path / 'one')
  prepare.prepare(*sections(one_shot))
  expected = _records(*sections(one_shot))
  total = sum(len(v) for v in expected.values())

  config = _small(make_tiny, tmp_path / 'two')
  data, vocab = sections(config)
  encoded = []
  _counting_encoder(monkeypatch, encoded)
  out = prepare.prepare(data, vocab, share=Share(0, 2))
  assert not (out / 'meta.json').exists()  # share 1 still to go
  assert len(encoded) == total // 2  # every second item
  _counting_encoder(monkeypatch, encoded, kill_after=len(encoded) + 5)
  with pytest.raises(_Killed):
    prepare.prepare(data, vocab, share=Share(1, 2))
  parts = pretokenize.Parts(prepare.partial_dir(data, vocab))
  done = parts.committed()
  assert len(done) == total // 2 + 4  # commit_every=2: the 5th item was not committed
  manifests = sorted(p.name for p in parts.dir.glob('1-of-2-*.json'))
  assert manifests == ['1-of-2-000000.json', '1-of-2-000001.json']
  before = len(encoded)
  _counting_encoder(monkeypatch, encoded)
  assert prepare.prepare(data, vocab, share=Share(1, 2)) == out
  assert len(encoded) - before == total - total // 2 - 4  # the 4 committed ones not again
  assert (out / 'meta.json').is_file() and not prepare.partial_dir(data, vocab).exists()
  _assert_same_records(_records(data, vocab), expected)
  meta, meta_one = (
      json.loads((d / 'meta.json').read_text())
      for d in (out, prepare.version_dir(*sections(one_shot)))
  )
  assert meta['splits'] == meta_one['splits']


def test_uncommitted_part_does_not_count(tmp_path):
  parts = pretokenize.Parts(tmp_path)
  parts.commit(Share(0, 1), [(0, b'a'), (2, b'c')], [(1, 'bad file')])
  (parts.dir / '.0-of-1-000001.tmp-1234').write_bytes(b'killed while writing')
  (parts.dir / '0-of-1-000001.array_record').write_bytes(b'records without a manifest')
  done = parts.committed()
  assert sorted(done) == [0, 1, 2]
  assert done[1] == pretokenize.Done(None, skipped='bad file')
  assert list(parts.read([done[2], done[0]])) == [b'c', b'a']
  parts.commit(Share(0, 1), [(3, b'd')], [])  # numbered after the committed one
  assert sorted(p.name for p in parts.dir.glob('*.json')) == [
      '0-of-1-000000.json',
      '0-of-1-000001.json',
  ]


def test_share_from_environment(monkeypatch):
  for key in ('SLURM_PROCID', 'SLURM_NTASKS', 'TPU_WORKER_ID', 'TPU_WORKER_HOSTNAMES'):
    monkeypatch.delenv(key, raising=False)
  assert pretokenize.share_from_env() == Share(0, 1)
  assert pretokenize.share_from_env(2, 3) == Share(2, 3)
  monkeypatch.setenv('TPU_WORKER_HOSTNAMES', 'w0,w1,w2,w3')
  monkeypatch.setenv('TPU_WORKER_ID', '3')
  assert pretokenize.share_from_env() == Share(3, 4)
  monkeypatch.setenv('SLURM_PROCID', '5')
  monkeypatch.setenv('SLURM_NTASKS', '8')
  assert pretokenize.share_from_env() == Share(5, 8)
  assert pretokenize.share_from_env(1, 2) == Share(1, 2)  # explicit flags win
  with pytest.raises(UserError, match=r'process index 2 not in \[0, 2\)'):
    pretokenize.share_from_env(2, 2)
  with pytest.raises(UserError, match='both --process_id and --num_processes'):
    pretokenize.share_from_env(1, None)
