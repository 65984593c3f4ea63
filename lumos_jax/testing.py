# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Helpers for tests of the training driver: configs, in-memory data, subprocess environments.

`FakeData` has the `make_iterator` interface of lumos_jax.data.pipeline over in-memory batches:
global batch b holds rows [b * B, (b + 1) * B) of one deterministic item stream and process p of P
gets rows [p * B / P, (p + 1) * B / P) of it, so every process layout sees the same global batches.

Compiled programs are cached on disk for the whole test session (in process and in subprocesses):
the driver tests start many short runs of the same tiny model and would otherwise spend most of
their time compiling it again. Subprocesses also compile at XLA's backend optimisation level 0,
which halves the CPU compile time of the train step; these tests check the driver (checkpoints,
resume, processes), not kernel speed, and compare runs compiled the same way.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile

import grain
import jax
import numpy as np
import safetensors.numpy
import tokenizers
from tokenizers import models, pre_tokenizers

from lumos_jax import config as config_lib
from lumos_jax import layout, vocab as vocab_lib

REPO = pathlib.Path(__file__).resolve().parents[1]  # the checkout (an editable install)
CACHE_DIR = os.path.join(tempfile.gettempdir(), 'lumos_jax_test_compilation_cache')
CACHE_ENV = {
    'JAX_COMPILATION_CACHE_DIR': CACHE_DIR,
    'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0',
    'JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES': '-1',
}


def enable_compilation_cache() -> None:
  jax.config.update('jax_compilation_cache_dir', CACHE_DIR)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)


def subprocess_env(devices: int | None = None) -> dict[str, str]:
  """Environment for a CPU subprocess with `devices` simulated devices (None: leave XLA_FLAGS)."""
  env = dict(os.environ, JAX_PLATFORMS='cpu', PYTHONUNBUFFERED='1', **CACHE_ENV)
  if devices is not None:
    flags = [
        f
        for f in env.get('XLA_FLAGS', '').split()
        if not f.startswith('--xla_force_host_platform_device_count')
    ]
    flags.append(f'--xla_force_host_platform_device_count={devices}')
  else:
    flags = env.get('XLA_FLAGS', '').split()
  env['XLA_FLAGS'] = ' '.join(flags + ['--xla_backend_optimization_level=0'])
  env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')]).rstrip(os.pathsep)
  return env


def load_config(name: str = 'tiny', **overrides):
  """configs/<name>.py's ConfigDict (name may end in ':arg'); overrides: {'section.leaf': value}."""
  config = config_lib.load(
      str(REPO / 'configs' / f'{name.partition(":")[0]}.py') + name[len(name.partition(':')[0]) :]
  )
  for key, value in overrides.items():
    *sections, leaf = key.split('.')
    node = config
    for s in sections:
      node = node[s]
    node[leaf] = value
  return config


def cli_overrides(**overrides) -> list[str]:
  """['--config.a.b=value', ...] from {'a.b': value}."""
  return [f'--config.{k}={v}' for k, v in overrides.items()]


class FakeData:
  """In-memory batches of 3-frame clips (2x3 latents) with short random captions."""

  def __init__(self, length: int = 64):
    self.length = length
    self.prepared = 0

  def prepare(self, data, vocab):
    del vocab
    self.prepared += 1
    return data.dir

  def _batch(self, vocab, split: str, seed: int, index: int, size: int):
    rng = np.random.default_rng([seed, index, split == 'train'])
    tokens = np.full((size, self.length), vocab.pad, np.int32)
    labels = np.full((size, self.length), vocab_lib.IGNORE, np.int32)
    for r in range(size):
      frames = [rng.integers(0, vocab.codebook_size, (2, 3)) for _ in range(3)]
      text = rng.integers(vocab.byte_offset, vocab.byte_offset + 256, (1 + r % 4,))
      item = layout.build_item(text, frames, vocab, duration=3, fps=1)
      tokens[r, : len(item.tokens)] = item.tokens
      labels[r, : len(item.labels)] = item.labels
    return tokens, labels

  def make_iterator(
      self,
      data,
      vocab,
      *,
      split='train',
      seed=0,
      process_index=None,
      process_count=None,
      num_epochs=None,
  ):
    del num_epochs
    size = data.batch_size
    p, n = process_index or 0, process_count or 1

    def get(index):
      tokens, labels = self._batch(vocab, split, seed, int(index), size)
      rows = slice(p * size // n, (p + 1) * size // n)
      return {'tokens': tokens[rows], 'labels': labels[rows]}

    return iter(grain.MapDataset.range(10**6).map(get).to_iter_dataset())


# -----------------------------------------------------------------------------------------------
# A tiny released Lumos-1 (the official files' formats, for `convert` and its docs)
# -----------------------------------------------------------------------------------------------

COSMOS_FIXTURE = REPO / 'tests' / 'fixtures' / 'cosmos_dv_small.npz'  # reduced Cosmos DV weights
RELEASE_HEADS, RELEASE_HEAD_DIM, RELEASE_LAYERS, RELEASE_MP = (
    2,
    32,
    2,
    2,
)  # MP: the official [model_parallel_size, D] q/k norms
RELEASE_VOCAB = vocab_lib.lumos1()
HF_CONFIG = {
    'architectures': ['ChameleonXLLMXForConditionalGeneration'],
    'model_type': 'chameleon',
    'vocab_size': RELEASE_VOCAB.size,
    'hidden_size': RELEASE_HEADS * RELEASE_HEAD_DIM,
    'intermediate_size': 96,
    'num_hidden_layers': RELEASE_LAYERS,
    'num_attention_heads': RELEASE_HEADS,
    'num_key_value_heads': RELEASE_HEADS,
    'hidden_act': 'silu',
    'rms_norm_eps': 1e-5,
    'rope_theta': 10000.0,
    'mm_rope': True,
    'model_parallel_size': RELEASE_MP,
    'swin_norm': False,
    'attention_bias': False,
    'mlp_bias': False,
    'tie_word_embeddings': False,
    'torch_dtype': 'bfloat16',
}


def release_state_dict():
  """Random bf16 torch weights of a tiny Lumos-1 under the official names (HF_CONFIG's shape)."""
  import torch  # pylint: disable=g-import-not-at-top

  gen = torch.Generator().manual_seed(0)
  e, f, d = HF_CONFIG['hidden_size'], HF_CONFIG['intermediate_size'], RELEASE_HEAD_DIM
  shapes = {'model.embed_tokens.weight': (RELEASE_VOCAB.size, e), 'model.norm.weight': (e,)}
  for i in range(RELEASE_LAYERS):
    p = f'model.layers.{i}.'
    for name in ('q', 'k', 'v', 'o'):
      shapes[f'{p}self_attn.{name}_proj.weight'] = (e, e)
    for name in ('q_norm', 'k_norm'):
      shapes[f'{p}self_attn.{name}.weight'] = shapes[f'{p}self_attn.{name}.bias'] = (RELEASE_MP, d)
    shapes.update({f'{p}mlp.gate_proj.weight': (f, e), f'{p}mlp.up_proj.weight': (f, e)})
    shapes[f'{p}mlp.down_proj.weight'] = (e, f)
    shapes[f'{p}input_layernorm.weight'] = shapes[f'{p}post_attention_layernorm.weight'] = (e,)
  shapes['lm_head.weight'] = (RELEASE_VOCAB.size, e)
  out = {}
  for name, shape in shapes.items():
    x = torch.randn(shape, generator=gen)
    x = 1 + 0.5 * x if name.endswith('norm.weight') else 0.5 * x if 'norm' in name else 0.1 * x
    out[name] = x.to(torch.bfloat16)
  return out


def write_release(path, state, layout_='sharded', config=None):
  """The HF folder: config.json and the weights as 2 safetensors shards + index ('sharded'), one
  model.safetensors without index ('single') or a pytorch_model.bin ('bin')."""
  import safetensors.torch  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top

  path.mkdir(parents=True)
  (path / 'config.json').write_text(json.dumps(config or HF_CONFIG))
  if layout_ == 'bin':
    torch.save(state, path / 'pytorch_model.bin')
  elif layout_ == 'single':
    safetensors.torch.save_file(state, str(path / 'model.safetensors'))
  else:
    names = list(state)
    shards = {
        'model-00001-of-00002.safetensors': names[::2],
        'model-00002-of-00002.safetensors': names[1::2],
    }
    for file, keys in shards.items():
      safetensors.torch.save_file({k: state[k] for k in keys}, str(path / file))
    weight_map = {k: file for file, keys in shards.items() for k in keys}
    index = {'metadata': {'total_size': 0}, 'weight_map': weight_map}
    (path / 'model.safetensors.index.json').write_text(json.dumps(index))
  return path


def write_cosmos_dir(path):
  """A converted Cosmos directory of the reduced test tokenizer (config.json + weights)."""
  path.mkdir()
  with np.load(COSMOS_FIXTURE) as f:
    weights = {k[2:]: f[k] for k in f.files if k.startswith('w/')}
    (path / 'config.json').write_text(str(f['config_json']))
  safetensors.numpy.save_file(weights, str(path / 'cosmos.safetensors'))
  return path


def write_text_tokenizer(path):
  """A word-level tokenizer.json: words at ids >= 10000 and the official special tokens."""
  vocab = {'[UNK]': 10000, **{w: 10001 + i for i, w in enumerate('a red ball rolls left'.split())}}
  vocab.update({'<reserved08706>': 8710, '<racm3:break>': 8197, '<eoss>': 8196})
  tok = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token='[UNK]'))
  tok.pre_tokenizer = pre_tokenizers.Whitespace()
  tok.save(str(path))
  return path


if __name__ == '__main__':
  # `python -m lumos_jax.testing train ...`: the real CLI fed by FakeData.
  import runpy  # pylint: disable=g-import-not-at-top
  from lumos_jax.train import loop  # pylint: disable=g-import-not-at-top

  loop._DefaultData = FakeData  # pylint: disable=protected-access
  sys.argv[0] = 'lumos_jax'
  runpy.run_module('lumos_jax', run_name='__main__', alter_sys=True)
