# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Parity with the official PyTorch Cosmos DV tokenizer (fixture from the official code).

float32 with true float32 matmuls: activations, latents and reconstructions within 1e-3
(observed ~1e-5), indices equal wherever the official bound value is more than 1e-3 from a
rounding boundary (closer cells may flip on float noise; they agree here too).
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lumos_jax.tokenizers.cosmos import model as model_lib
from lumos_jax.tokenizers.cosmos.config import CosmosConfig
from lumos_jax.tokenizers.cosmos.tokenizer import CosmosTokenizer

FIXTURE = pathlib.Path(__file__).parents[2] / 'fixtures' / 'cosmos_dv_small.npz'
CASES = ('video', 'image', 'odd')
TOL = 1e-3


def _channels_last(x: np.ndarray) -> np.ndarray:
  """Official [B, C, T, H, W] -> [B, T, H, W, C]."""
  return np.moveaxis(x, 1, -1)


@pytest.fixture(scope='module')
def fixture():
  with np.load(FIXTURE) as f:
    data = {k: f[k] for k in f.files}
  config = CosmosConfig.from_official_kwargs(json.loads(str(data['config_json'])))
  weights = {k[2:]: v for k, v in data.items() if k.startswith('w/')}
  return config, weights, data


@pytest.fixture(scope='module')
def outputs(fixture):
  """The float32 tokenizer on every case: (indices, latent, raw recon, uint8 recon)."""
  config, weights, data = fixture
  tokenizer = CosmosTokenizer.from_state_dict(config, weights, jnp.float32)
  out = {}
  with jax.default_matmul_precision('highest'):
    for case in CASES:
      indices, latent = tokenizer.encode_with_latent(data[f'{case}/x_uint8'])
      official = data[f'{case}/indices']
      out[case] = (indices, latent, tokenizer.decode_float(official), tokenizer.decode(official))
  return tokenizer, out


@pytest.fixture(scope='module')
def activations(fixture):
  """Outputs of the official modules on the video case, by official name (channels-last)."""
  config, weights, data = fixture
  graphdef, state = nnx.split(model_lib.from_state_dict(config, weights))

  @jax.jit
  def run(state, video, indices):
    model, acts = nnx.merge(graphdef, state), {}
    model.encode(video, acts)
    model.decode(indices, acts)
    return acts

  with jax.default_matmul_precision('highest'):
    video = _channels_last(data['video/x'])
    return jax.device_get(run(state, video, data['video/indices']))


def test_video_activations(fixture, activations):
  _, _, data = fixture
  names = [k[len('video/act/') :] for k in data if k.startswith('video/act/')]
  assert len(names) == 20
  for name in names:
    want = _channels_last(data[f'video/act/{name}'])
    got = activations[name]
    assert got.shape == want.shape, name
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL, err_msg=name)


@pytest.mark.parametrize('case', CASES)
def test_latent_and_indices(fixture, outputs, case):
  _, _, data = fixture
  indices, latent, _, _ = outputs[1][case]
  np.testing.assert_allclose(latent, _channels_last(data[f'{case}/latent']), rtol=0, atol=TOL)
  official = data[f'{case}/indices']
  assert indices.dtype == np.int32 and indices.shape == official.shape
  far = data[f'{case}/bound_margin'] > 1e-3
  np.testing.assert_array_equal(indices[far], official[far])


@pytest.mark.parametrize('case', CASES)
def test_reconstruction(fixture, outputs, case):
  _, _, data = fixture
  _, _, raw, pixels = outputs[1][case]
  np.testing.assert_allclose(raw, _channels_last(data[f'{case}/recon']), rtol=0, atol=TOL)
  want = data[f'{case}/recon_uint8']
  assert pixels.dtype == np.uint8 and pixels.shape == want.shape
  # Truncation can flip a value that lies within float noise of an integer.
  diff = np.abs(pixels.astype(int) - want)
  assert diff.max() <= 1 and np.mean(diff == 0) > 0.999


def test_odd_frame_count_decodes_to_4t_minus_3(outputs):
  indices, _, raw, _ = outputs[1]['odd']
  assert indices.shape == (1, 3, 4, 5)  # 6 frames -> ceil(5/4) + 1
  assert raw.shape == (1, 9, 32, 40, 3)


def test_unbatched_input_gives_unbatched_output(fixture, outputs):
  tokenizer, out = outputs
  _, _, data = fixture
  # Batch size 1: the same compiled programs as the batched call.
  indices = tokenizer.encode(data['odd/x_uint8'][0])
  np.testing.assert_array_equal(indices, out['odd'][0][0])
  np.testing.assert_array_equal(tokenizer.decode(data['odd/indices'][0]), out['odd'][3][0])


def test_float_input_matches_uint8(fixture, outputs):
  tokenizer, out = outputs
  _, _, data = fixture
  indices = tokenizer.encode(_channels_last(data['odd/x']))
  np.testing.assert_array_equal(indices, out['odd'][0])


def test_causal_in_time(fixture, outputs):
  """Latent frame j depends only on RGB frames <= 4j."""
  tokenizer, out = outputs
  _, _, data = fixture
  video = data['odd/x_uint8'].copy()
  video[:, 5:] = 255 - video[:, 5:]  # frames 5.. feed latent frame 2 only
  with jax.default_matmul_precision('highest'):
    _, latent = tokenizer.encode_with_latent(video)
  np.testing.assert_array_equal(latent[:, :2], out['odd'][1][:, :2])
  assert np.abs(latent[:, 2] - out['odd'][1][:, 2]).max() > 0.1


def _bf16_agreement(fixture, outputs, cases):
  config, weights, data = fixture
  tokenizer = CosmosTokenizer.from_state_dict(config, weights, jnp.bfloat16)
  fractions = {}
  for case in cases:
    indices = tokenizer.encode(data[f'{case}/x_uint8'])
    fractions[case] = float(np.mean(indices == outputs[1][case][0]))
  return tokenizer, fractions


def test_bf16_runs_and_mostly_agrees(fixture, outputs):
  tokenizer, fractions = _bf16_agreement(fixture, outputs, ['video'])
  print('bf16 vs float32 index agreement:', fractions)
  assert fractions['video'] > 0.75
  _, _, data = fixture
  raw = tokenizer.decode_float(data['video/indices'])
  assert raw.dtype == np.float32
  # Random weights amplify bf16 rounding; this bounds gross errors only.
  err = np.abs(raw - outputs[1]['video'][2])
  assert np.mean(err) < 0.1 * np.mean(np.abs(outputs[1]['video'][2]))


@pytest.mark.slow
def test_bf16_agreement_on_every_case(fixture, outputs):
  _, fractions = _bf16_agreement(fixture, outputs, CASES)
  print('bf16 vs float32 index agreement:', fractions)
  assert all(f > 0.75 for f in fractions.values())
