# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`lumos_jax.bench`: quick mode runs every section with records that follow the schema; FLOP
counts, chip peaks, the 384p model geometry and skipping a failing model."""

import json

import jax
import numpy as np
import pytest
from flax import nnx

from lumos_jax import bench, layout
from lumos_jax.model import config as model_config_lib
from lumos_jax.model import create_model
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


def test_model_flops_per_token_by_hand():
  mc = model_config_lib.ModelConfig(
      vocab_size=1000,
      embed_dim=64,
      num_layers=2,
      num_heads=4,
      num_kv_heads=2,
      head_dim=32,
      mlp_dim=128,
  )
  # Per layer: q 64x128 + o 128x64 + k, v 64x64 each + SwiGLU 3 x 64x128 = 49,152 weights;
  # 2 layers + LM head visual columns 64 x 100 = 104,704; attention 12 x 2 x 4 x 32 x 256.
  assert bench.model_flops_per_token(mc, 256, 100) == 6 * 104_704 + 12 * 2 * 4 * 32 * 256
  # The 6N part matches a parameter count of the decoder layers from the model itself.
  layers = nnx.state(create_model(mc).layers, nnx.Param)
  norms = sum(x.size for p, x in nnx.to_flat_state(layers) if 'norm' in '/'.join(map(str, p)))
  weights = sum(x.size for x in jax.tree.leaves(layers)) - norms
  assert bench.model_flops_per_token(mc, 0, 0) == 6 * weights


def test_peak_flops_only_for_known_chips_in_bfloat16():
  class Device:
    device_kind = 'NVIDIA H100 80GB HBM3'

  assert bench.peak_flops(Device(), 'bfloat16') == 989e12
  assert bench.peak_flops(Device(), 'float32') is None
  assert bench.peak_flops(jax.devices('cpu')[0], 'bfloat16') is None


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


def test_the_most_specific_chip_name_wins():
  class Device:
    device_kind = 'NVIDIA H100 PCIe'

  assert bench.peak_flops(Device(), 'bfloat16') == 756e12
