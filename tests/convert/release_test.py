# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`convert`: a tiny random Lumos-1 release in the Hugging Face layout -> a run directory that
`inference.load_run` loads into the same model as `load_hf_chameleon`; mismatches name tensors;
`sample` T2V, T2I and I2V on the converted run from the command line."""

import json
import subprocess
import sys

import imageio.v3 as iio

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from PIL import Image

from lumos_jax import config as config_lib
from lumos_jax import checkpoint, inference, layout, run_dir, testing
from lumos_jax.convert import load_hf_chameleon, release
from lumos_jax.errors import UserError
from lumos_jax.model import forward

torch = pytest.importorskip('torch')
safetensors_torch = pytest.importorskip('safetensors.torch')

FIXTURE = testing.COSMOS_FIXTURE
HEAD_DIM, MP = testing.RELEASE_HEAD_DIM, testing.RELEASE_MP
VOCAB = testing.RELEASE_VOCAB
HF_CONFIG = testing.HF_CONFIG
_state_dict = testing.release_state_dict
_write_release = testing.write_release
_cosmos_dir = testing.write_cosmos_dir
_text_tokenizer = testing.write_text_tokenizer


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp('release')
  state = _state_dict()
  return dict(
      root=root,
      state=state,
      sharded=_write_release(root / 'hf_sharded', state),
      cosmos=_cosmos_dir(root / 'cosmos'),
      text=_text_tokenizer(root / 'text_tokenizer.json'),
  )


def _tokens():
  """A text-to-video item with two 4x4 latent frames (MM-RoPE and the frame mask both matter)."""
  codes = np.random.default_rng(0).integers(0, VOCAB.codebook_size, size=(2, 4, 4))
  item = layout.build_item([10001, 10002, 10003], list(codes), VOCAB, duration=2, fps=12)
  return item.tokens[None]


@pytest.fixture(scope='module')
def reference(files):
  """load_hf_chameleon's model of the same weights, with the settings the converter chooses."""
  return load_hf_chameleon(
      files['state'],
      HF_CONFIG,
      dtype='bfloat16',
      param_dtype='bfloat16',
      attention_impl='auto',
      remat_policy='full',
  )


def _convert(files, hf_dir, out):
  return release.convert(hf_dir, files['text'], files['cosmos'], out)


def _assert_same_model(run, reference):
  model, config = reference
  assert run.config.model == config
  assert (config.q_norm_groups, config.k_norm_groups, config.rope_variant) == (MP, MP, 'mm')
  ours, theirs = nnx.to_flat_state(nnx.state(run.model)), nnx.to_flat_state(nnx.state(model))
  assert [p for p, _ in ours] == [p for p, _ in theirs]
  for (path, a), (_, b) in zip(ours, theirs):
    assert a.get_value().dtype == jnp.bfloat16, path
    np.testing.assert_array_equal(np.float32(a.get_value()), np.float32(b.get_value()), path)
  tokens = _tokens()
  got = np.asarray(forward.logits(run.model, tokens, run.vocab), np.float32)
  want = np.asarray(forward.logits(model, tokens, VOCAB), np.float32)
  np.testing.assert_array_equal(got, want)
  assert np.abs(want).max() > 1  # not trivially small


@pytest.mark.parametrize('layout_', ['sharded', 'bin'])
def test_converted_run_matches_load_hf_chameleon(files, reference, tmp_path, layout_):
  hf_dir = files['sharded'] if layout_ == 'sharded' else None
  if hf_dir is None:
    hf_dir = _write_release(tmp_path / 'hf', files['state'], layout_)
  out = _convert(files, hf_dir, tmp_path / 'run')
  assert out == (tmp_path / 'run').absolute()
  run = inference.load_run(out)
  assert run.step == 0
  _assert_same_model(run, reference)


def test_run_directory(files, tmp_path):
  """Complete config (official 384p T2V settings, tokenizers in the run), assets, no leftovers."""
  out = _convert(files, files['sharded'], tmp_path / 'run')
  raw = json.loads((out / run_dir.CONFIG).read_text())
  config = config_lib.parse(raw)
  assert raw == config.raw  # every key written
  assert (config.vocab, config.vocab.codebook_size) == (VOCAB, 64000)
  assert (config.model.dtype, config.model.param_dtype) == ('bfloat16', 'bfloat16')
  data = config.data
  assert (data.height_width, data.fps_duration) == ((384, 672), ((12, 2),))
  assert data.text_tokenizer == str(out / run_dir.TEXT_TOKENIZER)
  assert (data.tokenizer.kind, data.tokenizer.dtype) == ('cosmos', 'bfloat16')
  assert data.tokenizer.path == str(out / run_dir.COSMOS_TOKENIZER)
  sample = config.sample
  assert (sample.steps, sample.cfg_scale, sample.history_mask_ratio) == (50, 15.0, 0.7)
  assert sample.temperature_mode == 'official'
  assert run_dir.read_vocab(out) == VOCAB
  assert (out / run_dir.TEXT_TOKENIZER).read_bytes() == files['text'].read_bytes()
  for name in ('config.json', 'cosmos.safetensors'):
    copy = out / run_dir.COSMOS_TOKENIZER / name
    assert copy.read_bytes() == (files['cosmos'] / name).read_bytes()
  assert sorted(p.name for p in tmp_path.iterdir()) == ['run']  # no temporary directory left
  arrays = checkpoint.load_state_arrays(out / release.CHECKPOINTS)
  assert all(k.startswith('params/') for k in arrays)  # params only
  assert {v.dtype for v in arrays.values()} == {np.dtype(jnp.bfloat16)}  # as released
  assert sum(v.size for v in arrays.values()) == sum(t.numel() for t in files['state'].values())


def test_cli_single_file(files, tmp_path, capsys):
  hf_dir = _write_release(tmp_path / 'hf', files['state'], 'single')
  args = ['--hf_dir', hf_dir, '--text_tokenizer', files['text'], '--cosmos_dir', files['cosmos']]
  assert release.main([*map(str, args), '--out', str(tmp_path / 'run')]) == 0
  assert capsys.readouterr().out.strip() == str(tmp_path / 'run')
  assert release.main([*map(str, args), '--out', str(tmp_path / 'run')]) == 2  # not empty
  err = capsys.readouterr().err.strip()
  assert err.startswith('error: ') and 'not an empty directory' in err and '\n' not in err


def _edited(state, edit):
  state = dict(state)
  edit(state)
  return state


@pytest.mark.parametrize(
    'edit, message',
    [
        (
            lambda s: s.pop('model.layers.1.mlp.up_proj.weight'),
            'missing key model.layers.1.mlp.up_proj.weight',
        ),
        (
            lambda s: s.update({'model.layers.0.self_attn.extra.weight': torch.zeros(3)}),
            'unknown key model.layers.0.self_attn.extra.weight',
        ),
        (
            lambda s: s.update({'model.layers.1.self_attn.v_proj.weight': torch.zeros(32, 64)}),
            r'model.layers.1.self_attn.v_proj.weight: expected shape \(64, 64\), found \(32, 64\)',
        ),
    ],
    ids=['missing', 'extra', 'shape'],
)
@pytest.mark.parametrize('layout_', ['sharded', 'bin'])
def test_mismatch_names_the_tensor(files, tmp_path, edit, message, layout_):
  state = _edited(files['state'], edit)
  hf_dir = _write_release(tmp_path / 'hf', {k: v.contiguous() for k, v in state.items()}, layout_)
  with pytest.raises(UserError, match=f'weights do not match its config.json: .*{message}'):
    _convert(files, hf_dir, tmp_path / 'run')
  assert sorted(p.name for p in tmp_path.iterdir()) == ['hf']  # nothing written


def test_ignorable_tensors_are_skipped(files, reference, tmp_path):
  state = {**files['state'], 'model.vqmodel.encoder.conv_in.weight': torch.zeros(2, 3)}
  out = _convert(files, _write_release(tmp_path / 'hf', state, 'single'), tmp_path / 'run')
  _assert_same_model(inference.load_run(out), reference)


def test_index_naming_a_missing_shard(files, tmp_path):
  hf_dir = _write_release(tmp_path / 'hf', files['state'])
  (hf_dir / 'model-00002-of-00002.safetensors').unlink()
  with pytest.raises(UserError, match='missing: model-00002-of-00002.safetensors'):
    _convert(files, hf_dir, tmp_path / 'run')


def test_wrong_vocab_size(files, tmp_path):
  config = {**HF_CONFIG, 'vocab_size': 65536}
  hf_dir = tmp_path / 'hf'
  hf_dir.mkdir()
  (hf_dir / 'config.json').write_text(json.dumps(config))
  safetensors_torch.save_file({'lm_head.weight': torch.zeros(1)}, str(hf_dir / 'model.safetensors'))
  with pytest.raises(UserError, match='config.json: vocab_size=65536'):
    _convert(files, hf_dir, tmp_path / 'run')


def test_no_weights(files, tmp_path):
  hf_dir = tmp_path / 'hf'
  hf_dir.mkdir()
  (hf_dir / 'config.json').write_text(json.dumps(HF_CONFIG))
  with pytest.raises(UserError, match='no weights found'):
    _convert(files, hf_dir, tmp_path / 'run')


def test_bad_cosmos_dir(files, tmp_path):
  with pytest.raises(UserError, match='cosmos.safetensors not found'):
    release.convert(files['sharded'], files['text'], tmp_path, tmp_path / 'run')


def test_cli_names_the_error(files, tmp_path, capsys):
  code = release.main(
      [
          f'--hf_dir={tmp_path}',
          f'--text_tokenizer={files["text"]}',
          f'--cosmos_dir={files["cosmos"]}',
          f'--out={tmp_path / "run"}',
      ]
  )
  assert code == 2
  assert capsys.readouterr().err == f'error: {tmp_path / "config.json"} not found\n'


def _cli(*args):
  proc = subprocess.run(
      [sys.executable, '-m', 'lumos_jax', *map(str, args)],
      capture_output=True,
      text=True,
      timeout=600,
      env=testing.subprocess_env(1),
      cwd=testing.REPO,
  )
  assert proc.returncode == 0, (args[:1], proc.stderr[-4000:])
  return proc


def test_convert_then_sample_t2v_t2i_and_i2v_from_the_command_line(files, tmp_path):
  """The user's path: convert -> sample T2V, T2I and I2V at a small resolution -> mp4s."""
  run = tmp_path / 'run'
  _cli(
      'convert',
      '--hf_dir',
      files['sharded'],
      '--text_tokenizer',
      files['text'],
      '--cosmos_dir',
      files['cosmos'],
      '--out',
      run,
  )
  image = tmp_path / 'first.png'
  Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 80, 3), np.uint8)).save(image)
  cases = {'t2v': ['--frames=3'], 't2i': ['--frames=1'], 'i2v': ['--frames=3', f'--image={image}']}
  for name, args in cases.items():
    _cli(
        'sample',
        f'--workdir={run}',
        '--prompt=a red ball rolls left',
        '--steps=2',
        '--resolution=64x32',
        f'--out={tmp_path / name}',
        *args,
    )
  for name, frames in (('t2v', 9), ('t2i', 1), ('i2v', 9)):  # 3 latents -> 4 * 3 - 3 frames
    video = iio.imread(tmp_path / f'{name}.mp4')
    assert video.shape == (frames, 128, 256, 3), (name, video.shape)  # 64x32, upscaled x4


def test_i2v_resolution_follows_the_official_crop_list(files, tmp_path):
  run = inference.load_run(_convert(files, files['sharded'], tmp_path / 'run'))
  assert inference.image_resolution(run, Image.new('RGB', (1280, 720))) == (384, 672)
  height, width = inference.image_resolution(run, Image.new('RGB', (720, 1280)))
  assert height > width and height % 32 == width % 32 == 0  # a portrait size of the 528 list
