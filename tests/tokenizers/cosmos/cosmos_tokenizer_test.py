# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""CosmosTokenizer: files, the protocol's shapes and input errors, the DV8x8x8 samplers, encoding
sharded over a mesh."""

import json
import pathlib
import subprocess
import sys

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy

from lumos_jax import testing
from lumos_jax.tokenizers.cosmos import model as model_lib
from lumos_jax.tokenizers.cosmos import state_dict
from lumos_jax.tokenizers.cosmos.config import CosmosConfig
from lumos_jax.tokenizers.cosmos.tokenizer import CONFIG_FILE, WEIGHTS_FILE, CosmosTokenizer

FIXTURE = pathlib.Path(__file__).parents[2] / 'fixtures' / 'cosmos_dv_small.npz'
SMALL = CosmosConfig.dv4x8x8(channels=16)


@pytest.fixture(scope='module')
def weights():
  with np.load(FIXTURE) as f:
    return {k[2:]: f[k] for k in f.files if k.startswith('w/')}


def _write(path: pathlib.Path, config: CosmosConfig, flat: dict, dtype=np.float32) -> pathlib.Path:
  path.mkdir(parents=True, exist_ok=True)
  (path / CONFIG_FILE).write_text(json.dumps(config.official_kwargs()))
  safetensors.numpy.save_file(
      {k: np.ascontiguousarray(v.astype(dtype)) for k, v in flat.items()}, str(path / WEIGHTS_FILE)
  )
  return path


@pytest.mark.parametrize('dtype', [np.float32, ml_dtypes.bfloat16])
def test_from_files(tmp_path, weights, dtype):
  used = {k: weights[k] for k in state_dict.expected_shapes(SMALL)}
  tokenizer = CosmosTokenizer.from_files(_write(tmp_path, SMALL, used, dtype))
  assert tokenizer.config == SMALL and tokenizer.dtype == jnp.float32
  loaded = model_lib.to_state_dict(tokenizer.model)
  for name, value in used.items():  # the fixture's weights are bf16-representable
    np.testing.assert_array_equal(loaded[name], value, err_msg=name)
  bf16 = CosmosTokenizer.from_files(tmp_path, dtype=jnp.bfloat16)
  assert bf16.model.encoder.conv_in[0].kernel.dtype == jnp.bfloat16


def test_from_files_errors(tmp_path, weights):
  with pytest.raises(FileNotFoundError, match=CONFIG_FILE):
    CosmosTokenizer.from_files(tmp_path)
  broken = dict(weights)
  del broken['decoder.norm_out.norm.bias']
  _write(tmp_path, SMALL, broken)
  with pytest.raises(ValueError, match=r'cosmos\.safetensors: .*decoder\.norm_out\.norm\.bias'):
    CosmosTokenizer.from_files(tmp_path)
  (tmp_path / CONFIG_FILE).write_text(json.dumps({**SMALL.official_kwargs(), 'encoder': 'BASE'}))
  with pytest.raises(ValueError, match=r'config\.json: .*encoder'):
    CosmosTokenizer.from_files(tmp_path)


@pytest.fixture(scope='module')
def tiny():
  """A random DV4x8x8-shaped tokenizer small enough to compile quickly."""
  config = CosmosConfig.dv4x8x8(channels=4, channels_mult=(1, 2), num_res_blocks=1)
  return CosmosTokenizer.from_state_dict(config, state_dict.random_state_dict(config))


def test_protocol(tiny):
  assert (tiny.codebook_size, tiny.temporal_compression, tiny.spatial_compression) == (64000, 4, 8)


@pytest.mark.slow
def test_random_weights_round_trip_shapes(tiny):
  """Shapes and dtypes (the parity tests check them on the fixture's weights too)."""
  video = np.random.default_rng(0).integers(0, 256, size=(2, 6, 16, 24, 3), dtype=np.uint8)
  codes = tiny.encode(video)
  assert codes.dtype == np.int32 and codes.shape == (2, 3, 2, 3)
  assert codes.min() >= 0 and codes.max() < 64000
  frames = tiny.decode(codes)
  assert frames.dtype == np.uint8 and frames.shape == (2, 9, 16, 24, 3)
  assert tiny.decode_float(codes).dtype == np.float32


@pytest.mark.parametrize(
    'video, error',
    [
        (np.zeros((16, 16, 3), np.uint8), 'got \\(16, 16, 3\\)'),  # no frame axis
        (np.zeros((1, 16, 16, 4), np.uint8), 'got \\(1, 16, 16, 4\\)'),  # RGBA
        (np.zeros((1, 12, 16, 3), np.uint8), 'multiple of 8'),
        (np.zeros((0, 16, 16, 3), np.uint8), 'at least one frame'),
    ],
)
def test_encode_errors(tiny, video, error):
  with pytest.raises(ValueError, match=error):
    tiny.encode(video)
  with pytest.raises(TypeError, match='int32'):
    tiny.encode(np.zeros((1, 16, 16, 3), np.int32))


def test_decode_errors(tiny):
  with pytest.raises(ValueError, match=r'\[0, 64000\)'):
    tiny.decode(np.full((1, 2, 2), 64000))
  with pytest.raises(ValueError, match='codes must be int'):
    tiny.decode(np.zeros((1, 2, 2), np.float32))


@pytest.mark.slow
def test_dv8x8x8_temporal_samplers_shapes():
  config = CosmosConfig.dv8x8x8(channels=4, channels_mult=(1, 1, 2), num_res_blocks=1)
  tokenizer = CosmosTokenizer.from_state_dict(config, state_dict.random_state_dict(config))
  codes = tokenizer.encode(np.zeros((9, 16, 16, 3), np.uint8))  # unbatched
  assert codes.shape == (2, 2, 2) == (config.latent_frames(9), 2, 2)
  assert tokenizer.decode(codes).shape == (9, 16, 16, 3)


_SHARDED_SCRIPT = """
import jax, numpy as np
from lumos_jax import parallel
from lumos_jax.tokenizers.cosmos import config, state_dict, tokenizer
assert jax.device_count() == 8
cfg = config.CosmosConfig.dv4x8x8(channels=16)
tok = tokenizer.CosmosTokenizer.from_state_dict(cfg, state_dict.random_state_dict(cfg, seed=1))
video = np.random.default_rng(0).integers(0, 256, (5, 5, 16, 24, 3), dtype=np.uint8)
want = tok.encode(video)
for shape in [(-1, 1, 1), (2, 2, 2), (1, 4, 2)]:
  got = tok.encode(video, mesh=parallel.make_mesh(shape))  # 5 clips over 8, 4 or 4 shards
  assert got.shape == want.shape == (5, 2, 2, 3), got.shape
  assert (got == want).all(), shape
print('ok')
"""


def test_encode_sharded_over_the_mesh_equals_one_device():
  proc = subprocess.run(
      [sys.executable, '-c', _SHARDED_SCRIPT],
      capture_output=True,
      text=True,
      timeout=300,
      env=testing.subprocess_env(8),
  )
  assert proc.returncode == 0 and 'ok' in proc.stdout, proc.stderr[-3000:]
