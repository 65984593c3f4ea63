# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`lumos_jax.bench` in quick mode: every section runs and the records follow the schema."""

import json

import pytest

from lumos_jax import bench

REQUIRED = {'name': str, 'metric': str, 'value': float, 'unit': str, 'machine': str, 'date': str}


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('bench')
  doc = tmp / 'benchmarks.md'
  doc.write_text('# Benchmarks\n\nProse kept.\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n'
                 'Trailer kept.\n')
  records = bench.run(quick=True, out=tmp / 'latest.json', doc=doc, command='make bench',
                      data_root=tmp / 'data')
  return records, tmp


def test_records_follow_the_schema(quick_run):
  records, tmp = quick_run
  assert json.loads((tmp / 'latest.json').read_text()) == records
  for r in records:
    for key, kind in REQUIRED.items():
      assert isinstance(r[key], kind), (key, r)
  names = {r['name'] for r in records}
  assert {'attention/dense', 'attention/blockwise', 'train/tiny', 'sampling/tiny',
          'data/tiny'} <= names
  metrics = {(r['name'], r['metric']) for r in records}
  assert ('attention/blockwise', 'peak_memory_bytes') in metrics
  assert ('train/tiny', 'tokens_per_s') in metrics
  assert ('sampling/tiny', 'latency_per_frame_s') in metrics
  for r in records:
    if r['name'].startswith(('attention/', 'train/')):
      assert isinstance(r['seq_len'], int)
    assert r['value'] > 0, r


def test_doc_block_is_replaced(quick_run):
  _, tmp = quick_run
  text = (tmp / 'benchmarks.md').read_text()
  assert text.startswith('# Benchmarks\n\nProse kept.') and text.endswith('Trailer kept.\n')
  assert 'old' not in text and 'Command: `make bench`' in text
  assert '| blockwise | 256 |' in text and '| tiny |' in text


def test_unknown_section_is_an_error():
  with pytest.raises(ValueError, match='unknown bench sections'):
    bench.run(quick=True, sections=('attention', 'gpu'), out=None, doc=None)
