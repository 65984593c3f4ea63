# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""configs/ and the schema: every file parses (as is and shrunk), and bad keys name their path."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from lumos_jax import config as config_lib
from lumos_jax import layout
from lumos_jax.errors import ConfigError
from lumos_jax.model import create_model, logits
from lumos_jax.testing import REPO

CONFIG_FILES = sorted(p.name for p in (REPO / 'configs').glob('*.py') if p.name != '__init__.py')


@pytest.mark.parametrize('name', CONFIG_FILES)
@pytest.mark.parametrize('arg', ['', ':runlocal=True'])
def test_every_config_file_parses(name, arg):
  config = config_lib.parse(config_lib.load(f'{REPO / "configs" / name}{arg}'))
  assert config.model.vocab_size == config.vocab.size
  assert set(config.raw) == set(config_lib.base_config())  # every section, nothing else
  if arg:  # shrunk: small model, embedded synthetic data, a few steps
    assert config.model.embed_dim <= 64 and config.data.source == 'synthetic'
    assert config.train.num_steps <= 4 and config.data.size == 16


def test_presets_override_only_what_differs():
  base = config_lib.parse(config_lib.base_config())
  tiny = config_lib.parse(config_lib.load(str(REPO / 'configs' / 'tiny.py')))
  assert tiny.ardf == base.ardf and tiny.mesh == base.mesh  # not set by tiny.py
  assert tiny.model.embed_dim == 64 != base.model.embed_dim


@pytest.mark.parametrize(
    'override, message',
    [
        (
            {'model': {'embed_dimm': 8}},
            'config.model.embed_dimm: unknown key; did you mean embed_dim?',
        ),
        ({'trian': {}}, 'config.trian: unknown key; did you mean train?'),
        ({'data': {'tokenizer': {'patch': 4}}}, 'config.data.tokenizer.patch: unknown key'),
        ({'model': {'num_layers': 2.5}}, 'config.model.num_layers: expected int, got 2.5'),
        ({'train': {'progress_bar': 'yes'}}, "config.train.progress_bar: expected bool, got 'yes'"),
        ({'mesh': {'shape': (1, 1)}}, r'config.mesh.shape: expected 3 values'),
        (
            {'data': {'fps_duration': ((4, 'a'),)}},
            r'config.data.fps_duration\[0\]\[1\]: expected int',
        ),
        ({'data': {'placement': 'diagonal'}}, "config.data.placement='diagonal': expected one of"),
        ({'model': {'head_dim': 48}}, 'config.model.head_dim=48: must be a multiple of 32'),
        ({'optim': {'decay': 'cos'}}, "config.optim.decay='cos'"),
        ({'sample': {'steps': 0}}, 'config.sample.steps=0: must be >= 1'),
        ({'vocab': {'preset': 'llama'}}, "config.vocab.preset='llama': expected one of"),
        (
            {'vocab': {'preset': 'lumos1', 'codebook_size': 512}},
            "config.vocab: {'codebook_size': 512",
        ),
        (
            {'data': {'tokenizer': {'kind': 'vqgan'}}},
            "config.data.tokenizer.kind='vqgan': expected",
        ),
        ({'model': 3}, 'config.model: expected a section'),
    ],
)
def test_bad_configs_name_the_key(override, message):
  with pytest.raises(ConfigError, match=message):
    config_lib.parse(override)


def test_types_are_coerced_where_lossless():
  config = config_lib.parse(
      {'optim': {'learning_rate': 1}, 'data': {'size': [16, 32]}, 'mesh': {'shape': [1, -1, 1]}}
  )
  assert config.optim.learning_rate == 1.0 and isinstance(config.optim.learning_rate, float)
  assert config.data.size == (16, 32) and config.data.height_width == (16, 32)
  assert config.mesh.shape == (1, -1, 1)


def test_config_arguments():
  assert config_lib.parse_arg('runlocal=True,n=3', runlocal=False, n=1).to_dict() == {
      'runlocal': True,
      'n': 3,
  }
  assert not config_lib.parse_arg('runlocal=false', runlocal=True).runlocal
  with pytest.raises(ConfigError, match="config argument 'steps': unknown"):
    config_lib.parse_arg('steps=3', runlocal=False)
  with pytest.raises(ConfigError, match="runlocal='maybe': expected True or False"):
    config_lib.parse_arg('runlocal=maybe', runlocal=False)


def test_tiny_config_runs_a_forward_pass():
  config = config_lib.parse(config_lib.load(str(REPO / 'configs' / 'tiny.py')))
  vocab = config.vocab
  model = create_model(config.model)
  item = layout.t2i_item([vocab.byte_offset + 65], np.zeros((2, 2), int), vocab)
  out = logits(model, item.tokens[None], vocab)
  assert out.shape == (1, len(item.tokens), vocab.size) and np.isfinite(out).all()


def test_configs_are_importable_without_runpy():
  for path in (REPO / 'configs').glob('*.py'):
    assert 'runpy' not in pathlib.Path(path).read_text(), path


def test_parsing_does_not_start_the_jax_backend():
  """`train` parses before jax.distributed.initialize, which must come before any backend use."""
  script = (
      'from jax._src import xla_bridge\n'
      'from lumos_jax import config\n'
      f'config.parse(config.load({str(REPO / "configs" / "demo.py")!r}))\n'
      'assert not xla_bridge.backends_are_initialized()\n'
  )
  subprocess.run([sys.executable, '-c', script], check=True, timeout=120)


def test_sampler_settings_per_task():
  sample = config_lib.parse({}).sample  # the base: official defaults (spec 7.1)
  assert (sample.steps, sample.history_mask_ratio, sample.mask_given_frames) == (50, 0.7, False)
  assert sample.sampling(7).cfg_scale == 15.0  # video
  assert sample.sampling(1).cfg_scale == 16.0  # image (T2I)
  assert sample.sampling(1, cfg_scale=4.0).cfg_scale == 4.0  # a flag wins
