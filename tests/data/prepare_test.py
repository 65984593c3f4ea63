# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`prepare` on the synthetic source: contents, idempotence, versions, readers, CLI."""

import logging
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from lumos_jax import errors
from lumos_jax.data import pipeline, prepare, records, synthetic
from lumos_jax.tokenizers import patch_vq

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_records_hold_the_synthetic_items(tiny, sections):
  d, vocab = sections(tiny)
  out = prepare.version_dir(d, vocab)
  meta = prepare.load_meta(d, vocab)
  assert meta['splits']['train'] == {'num_items': 112, 'videos': [0, 96], 'images': [96, 112]}
  assert meta['splits']['heldout'] == {'num_items': 20, 'videos': [0, 16], 'images': [16, 20]}
  assert meta['codebook_size'] == vocab.codebook_size == 64  # from config.vocab
  vq = prepare.load_tokenizer(d, vocab)
  patch_vq.check_vocab(vq, vocab)
  # Plain TFDS reads the records without TensorFlow.
  ds = tfds.data_source('lumos_items', data_dir=str(out / 'records'), split='train')
  assert len(ds) == 112
  source = prepare.record_source(d, vocab, 'train')
  for i, kind, j, frames, fps in (
      (0, 'video', 0, 4, 4),
      (95, 'video', 95, 4, 4),
      (96, 'image', 0, 1, 1),
      (111, 'image', 15, 1, 1),
  ):
    ex = synthetic.example(j, d.seed, 'train', frames=frames, size=d.size, fps=fps)
    r = source[i]
    assert r.id == f'train/{kind}/{j:06d}' and r.caption == ex.caption and r.fps == fps
    assert ds[i]['caption'].decode() == ex.caption
    np.testing.assert_array_equal(r.text_ids, [vocab.byte_offset + b for b in ex.caption.encode()])
    np.testing.assert_array_equal(r.codes, vq.encode(ex.video))
    assert r.codes.shape == (frames, 4, 4)
    assert prepare.attributes_of(r) == ex.attributes


def test_heldout_items_are_the_heldout_split(tiny, sections):
  data, vocab = sections(tiny)
  items = prepare.read_items(data, vocab, 'heldout', kind='video')
  assert len(items) == 16 and all(r.num_frames == 4 for r in items)
  held = set(synthetic.combos('heldout'))
  assert all(prepare.attributes_of(r).combo in held for r in items)
  images = prepare.read_items(data, vocab, 'heldout', kind='image')
  assert len(images) == 4 and all(r.is_image for r in images)
  assert len(prepare.read_items(data, vocab, 'heldout', kind=None)) == 20
  assert len(prepare.read_items(data, vocab)) == 20  # the held-out split by default
  first = prepare.read_items(data, vocab, 'heldout', kind='image', limit=3)
  assert [r.id for r in first] == [r.id for r in images[:3]]


def test_prepare_is_idempotent_and_versioned(tmp_path, caplog, make_tiny, sections):
  config = make_tiny(tmp_path)
  config.data.num_train, config.data.num_train_images = 16, 0
  config.data.num_heldout, config.data.num_heldout_images = 0, 0
  config.data.tokenizer.fit_items = 8
  first = prepare.prepare(*sections(config))
  assert first.parent == tmp_path and len(first.name) == 12
  stamp = (first / 'meta.json').stat().st_mtime_ns
  with caplog.at_level(logging.INFO):
    assert prepare.prepare(*sections(config)) == first
  assert 'already prepared' in caplog.text
  assert (first / 'meta.json').stat().st_mtime_ns == stamp
  assert prepare.read_items(*sections(config), 'heldout') == []  # an empty split is not written
  # Pipeline-only settings keep the version; data settings make a new one next to it.
  config.data.batch_size, config.data.cfg_dropout, config.data.dir = 4, 0.5, str(tmp_path)
  assert prepare.version_dir(*sections(config)) == first
  config.data.num_train = 17
  second = prepare.prepare(*sections(config))
  assert second != first and second.parent == tmp_path
  assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])
  assert prepare.load_meta(*sections(config))['splits']['train']['num_items'] == 17
  # force rebuilds in place.
  assert prepare.prepare(*sections(config), force=True) == second


def test_a_new_generator_version_is_a_new_data_version(tmp_path, monkeypatch, make_tiny, sections):
  data, vocab = sections(make_tiny(tmp_path))
  before = prepare.data_version(data, vocab)
  monkeypatch.setattr(synthetic, 'GENERATOR_VERSION', synthetic.GENERATOR_VERSION + 1)
  assert prepare.data_version(data, vocab) != before


def test_placement_is_part_of_the_data_version(tmp_path, make_tiny, sections):
  config = make_tiny(tmp_path)
  versions = {}
  for placement in synthetic.PLACEMENTS:
    config.data.placement = placement
    versions[placement] = prepare.data_version(*sections(config))
    assert prepare.data_spec(*sections(config))['placement'] == placement
  assert len(set(versions.values())) == len(synthetic.PLACEMENTS)
  config.data.placement = 'random'  # the same placement again: the same version
  assert prepare.data_version(*sections(config)) == versions['random']


def test_train_side_prepares_synthetic_data_on_first_use(tmp_path, caplog, make_tiny, sections):
  config = make_tiny(tmp_path)
  config.data.num_train, config.data.num_train_images, config.data.tokenizer.fit_items = 16, 0, 8
  data, vocab = sections(config)
  assert not prepare.is_prepared(data, vocab)
  with caplog.at_level(logging.INFO):
    batch = next(pipeline.make_iterator(data, vocab, process_index=0, process_count=1))
  assert 'first use of this synthetic data set: preparing' in caplog.text
  assert prepare.is_prepared(data, vocab) and batch['tokens'].shape == (8, 192)


def test_user_source_must_be_prepared_explicitly(tmp_path, make_tiny, sections):
  config = make_tiny(tmp_path)
  config.data.source = 'user'
  config.data.user.root = str(tmp_path)
  with pytest.raises(errors.UserError, match='python -m lumos_jax prepare'):  # one CLI line
    pipeline.make_iterator(*sections(config), process_index=0, process_count=1)


def test_config_errors(tmp_path, make_tiny, sections):
  config = make_tiny(tmp_path)
  config.data.tokenizer.codebook_size = 32  # removed: the codebook size is config.vocab's
  with pytest.raises(errors.ConfigError, match=r'config\.data\.tokenizer\.codebook_size: unknown'):
    sections(config)
  config = make_tiny(tmp_path)
  config.data.source = 'web'
  with pytest.raises(
      errors.ConfigError,
      match=r"config\.data\.source='web': expected one of \('synthetic', 'user'\)",
  ):
    sections(config)
  config = make_tiny(tmp_path)
  config.data.placement = 'diagonal'
  with pytest.raises(
      errors.ConfigError, match=r"config\.data\.placement='diagonal': expected one of \['random'"
  ):
    sections(config)
  assert not list(tmp_path.iterdir())  # nothing half-written


def test_caption_too_long_is_a_named_error(tmp_path, make_tiny, sections):
  config = make_tiny(tmp_path)
  config.data.num_train, config.data.num_train_images, config.data.tokenizer.fit_items = 8, 0, 4
  config.data.max_text_tokens = 12
  with pytest.raises(ValueError, match=r'train item train/video/000000: caption has \d+ tokens'):
    prepare.prepare(*sections(config))
  assert not [p for p in tmp_path.iterdir() if not p.name.startswith('.')]


def test_command_line(tmp_path):
  out = subprocess.run(
      [
          sys.executable,
          '-m',
          'lumos_jax',
          'prepare',
          '--config=configs/tiny.py',
          f'--config.data.dir={tmp_path}',
          '--config.data.num_train=8',
          '--config.data.num_train_images=0',
          '--config.data.tokenizer.fit_items=4',
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      check=False,
      env=dict(os.environ, JAX_PLATFORMS='cpu'),
  )
  assert out.returncode == 0, out.stderr
  last = out.stdout.strip().splitlines()[-1]
  assert last.startswith('data ready in '), out.stdout
  version = pathlib.Path(last.removeprefix('data ready in '))
  assert version.parent == tmp_path and (version / 'meta.json').is_file()
  assert 'pre-tokenizing share 0-of-1' in out.stderr and 'item/s' in out.stderr  # progress bar
  assert (
      len(
          records.RecordSource(
              records.builder_dir(version / 'records'), 'train', records.Checks(codebook_size=64)
          )
      )
      == 8
  )
