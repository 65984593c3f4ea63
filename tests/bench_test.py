# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`lumos_jax.bench`: quick mode runs every section with records that follow the schema; the 384p
model geometry and skipping a failing model (FLOP counts and chip peaks: flops_test.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from lumos_jax import bench, layout, testing
from lumos_jax.train import step as step_lib

REQUIRED = {'name': str, 'metric': str, 'value': float, 'unit': str, 'machine': str, 'date': str}


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('bench')
  doc = tmp / 'benchmarks.md'
  doc.write_text(
      '# Benchmarks\n\nProse kept.\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n'
      'Trailer kept.\n'
  )
  records = bench.run(
      quick=True, out=tmp / 'latest.json', doc=doc, command='make bench', data_root=tmp / 'data'
  )
  return records, tmp


def test_records_follow_the_schema(quick_run):
  records, tmp = quick_run
  assert json.loads((tmp / 'latest.json').read_text()) == records
  for r in records:
    for key, kind in REQUIRED.items():
      assert isinstance(r[key], kind), (key, r)
  names = {r['name'] for r in records}
  assert {
      'attention/dense',
      'attention/blockwise',
      'train/tiny',
      'sampling/tiny',
      'data/tiny',
      'tokenizer/small',
  } <= names
  metrics = {(r['name'], r['metric']) for r in records}
  assert ('attention/blockwise', 'peak_memory_bytes') in metrics
  assert ('train/tiny', 'tokens_per_s') in metrics
  assert ('train/tiny', 'model_flops_per_s') in metrics
  assert ('sampling/tiny', 'latency_per_frame_s') in metrics
  for metric in ('encode_s_per_frame', 'decode_s_per_frame', 'encode_peak_bytes'):
    assert ('tokenizer/small', metric) in metrics
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


def test_the_gpu_script_runs_its_sections_at_cpu_shapes(tmp_path):
  env = dict(
      testing.subprocess_env(),
      OUT=str(tmp_path),
      BENCH_FLAGS='--quick',
      WHEELS_DIR=str(tmp_path / 'no_wheels'),
      PYTHON=sys.executable,
  )
  subprocess.run(['bash', 'bench/gpu.sh'], cwd=testing.REPO, env=env, check=True, timeout=600)
  records = json.loads((tmp_path / 'gpu.json').read_text())
  kinds = {(r['name'], r.get('attention_impl'), r.get('dtype')) for r in records}
  assert ('attention/blockwise', None, 'bfloat16') in kinds  # the kernels' dtype on GPU
  assert ('train/tiny', 'blockwise', 'float32') in kinds
  assert ('sampling/tiny', 'auto', None) in kinds  # sampling as users get it
  doc = (tmp_path / 'benchmarks_gpu.md').read_text()
  assert 'Fastest per L: 256 blockwise, 512 blockwise.' in doc
  assert 'Fastest per model: tiny blockwise.' in doc
  assert (tmp_path / 'log.txt').exists()


def test_the_full_1b_model_at_384p_for_gpu_sampling():
  config, latents = bench._base_config('official_1b_16layers_384p')
  assert config.model.num_layers == 16 and config.model.embed_dim == 2048
  assert latents == (48, 84) and config.vocab.codebook_size == 64000


def test_official_384p_model_has_the_official_geometry():
  config, latents = bench._base_config('official_1b_384p')
  vocab = config.vocab
  assert config.model.vocab_size == vocab.size
  assert latents == (48, 84) and vocab.codebook_size == 64000 and vocab.rope_strides == (4, 8, 8)
  batch = bench.synthetic_batch(vocab, 1, 7, latents)
  # 7 frames of 48 rows x (84 codes + new-line) + 4 frame tokens, plus at most 54 text/header
  # tokens, padded to a multiple of 64.
  assert batch['tokens'].shape == (1, 28672)
  frames = layout.parse_video(np.asarray(batch['tokens'][0]), vocab).frames
  assert len(frames) == 7 and frames[0].shape == (48, 84)


def test_a_train_model_that_fails_is_reported_and_skipped(monkeypatch, capsys):
  def broken_step(settings, *args, **kwargs):
    def run(state, batch):
      raise RuntimeError('RESOURCE_EXHAUSTED: out of memory')

    return run

  monkeypatch.setattr(step_lib, 'compile_train_step', broken_step)
  recorder = bench.Recorder()
  bench.bench_train(recorder, bench.plan(True, 'cpu'))
  assert recorder.records == []
  assert 'train/tiny dense: RuntimeError: RESOURCE_EXHAUSTED' in capsys.readouterr().out
