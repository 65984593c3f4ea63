# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Official parameter names and shapes, the unused sampler convs, and the strict check."""

import json
import math
import pathlib
import re

import numpy as np
import pytest
from flax import nnx

from lumos_jax.tokenizers.cosmos import model as model_lib
from lumos_jax.tokenizers.cosmos import state_dict
from lumos_jax.tokenizers.cosmos.config import CosmosConfig

FIXTURE = pathlib.Path(__file__).parents[2] / 'fixtures' / 'cosmos_dv_small.npz'
SMALL = CosmosConfig.dv4x8x8(channels=16)


@pytest.fixture(scope='module')
def fixture():
  with np.load(FIXTURE) as f:
    weights = {k[2:]: f[k] for k in f.files if k.startswith('w/')}
    return weights, json.loads(str(f['meta_json']))


def _params(shapes) -> int:
  return sum(math.prod(s) for s in shapes.values())


def test_fixture_names_shapes_and_order(fixture):
  weights, meta = fixture
  shapes = state_dict.official_shapes(SMALL)
  assert list(shapes) == list(weights)  # 322 tensors in state_dict order
  assert shapes == {k: v.shape for k, v in weights.items()}
  assert _params(shapes) == meta['n_params'] == 1966038
  assert sorted(state_dict.unused_names(SMALL)) == sorted(meta['params_without_grad'])
  assert len(state_dict.expected_shapes(SMALL)) == 306
  state_dict.check(SMALL, weights)


def test_release_parameter_counts():
  """COSMOS_DV.md sections 0 and 10: totals, and used encoder / decoder parameters."""
  for config, total, enc, dec in (
      (CosmosConfig.dv4x8x8(), 112472182, 42717830, 61951728),
      (CosmosConfig.dv8x8x8(), 112472182, 42914694, 62738672),
      (CosmosConfig(temporal_compression=8, spatial_compression=16), None, 45537158, 65361136),
  ):
    used = state_dict.expected_shapes(config)
    if total is not None:
      assert _params(state_dict.official_shapes(config)) == total
    assert (
        _params({k: v for k, v in used.items() if not k.startswith('decoder')})
        - _params({k: v for k, v in used.items() if k.startswith('post_quant_conv')})
        == enc
    )
    assert (
        _params({k: v for k, v in used.items() if k.startswith(('decoder', 'post_quant'))}) == dec
    )


def test_unused_prefixes_tell_dv4_from_dv8():
  assert state_dict.UNUSED_PREFIXES == (
      'encoder.down.0.downsample.conv2',
      'encoder.down.1.downsample.conv1',
      'encoder.down.1.downsample.conv2',
      'encoder.down.1.downsample.conv3',
      'decoder.up.1.upsample.conv1',
      'decoder.up.1.upsample.conv2',
      'decoder.up.1.upsample.conv3',
      'decoder.up.2.upsample.conv1',
  )
  dv8 = set(state_dict.unused_prefixes(CosmosConfig.dv8x8x8()))
  assert dv8 == {f'encoder.down.1.downsample.conv{i}' for i in (1, 2, 3)} | {
      f'decoder.up.2.upsample.conv{i}' for i in (1, 2, 3)
  }


@pytest.mark.parametrize(
    'config', [SMALL, CosmosConfig.dv8x8x8(channels=8, channels_mult=(1, 1, 2))]
)
def test_model_holds_exactly_the_expected_tensors(config):
  model = nnx.eval_shape(lambda: model_lib.CosmosDV(config, rngs=nnx.Rngs(0)))
  assert model_lib.torch_shapes(model) == state_dict.expected_shapes(config)


def test_unused_convs_accepted_present_or_absent(fixture):
  weights, _ = fixture
  unused = set(state_dict.unused_names(SMALL))
  state_dict.check(SMALL, {k: v for k, v in weights.items() if k not in unused})
  # One present, the others absent.
  state_dict.check(SMALL, {k: v for k, v in weights.items() if k not in unused or 'up.2' in k})


def test_check_names_every_problem(fixture):
  weights, _ = fixture
  bad = dict(weights)
  del bad['encoder.mid.attn_1.1.q.conv3d.bias']
  del bad['decoder.up.0.block.0.nin_shortcut.conv3d.weight']
  bad['decoder.conv_out.1.conv3d.weight'] = np.zeros((192, 192, 1, 1, 1), np.float32)
  bad['quantizer._levels'] = np.zeros((6,), np.int32)
  bad['encoder.extra.weight'] = np.zeros((1,), np.float32)
  with pytest.raises(ValueError) as e:
    state_dict.check(SMALL, bad)
  message = str(e.value)
  assert re.search(r'2 missing: .*encoder\.mid\.attn_1\.1\.q\.conv3d\.bias', message)
  assert 'decoder.up.0.block.0.nin_shortcut.conv3d.weight' in message
  assert re.search(r'2 unexpected: encoder\.extra\.weight, quantizer\._levels', message)
  assert (
      'decoder.conv_out.1.conv3d.weight: expected (192, 192, 3, 1, 1), got (192, 192, 1, 1, 1)'
      in message
  )


def test_check_rejects_weights_of_another_width(fixture):
  weights, _ = fixture
  with pytest.raises(
      ValueError,
      match=r'296 mis-shaped: encoder.conv_in.0.conv3d.weight: expected \(32, 192, 1, 3, 3\)',
  ):
    state_dict.check(CosmosConfig.dv4x8x8(channels=32), weights)


def test_load_is_strict(fixture):
  weights, _ = fixture
  model = nnx.eval_shape(lambda: model_lib.CosmosDV(SMALL, rngs=nnx.Rngs(0)))
  with pytest.raises(ValueError, match='quant_conv.conv3d.bias'):
    model_lib.load_state_dict(
        model, {k: v for k, v in weights.items() if k != 'quant_conv.conv3d.bias'}
    )


def test_to_state_dict_round_trip(fixture):
  weights, _ = fixture
  model = model_lib.from_state_dict(SMALL, weights)
  out = model_lib.to_state_dict(model)
  assert set(out) == set(state_dict.expected_shapes(SMALL))
  for name, value in out.items():
    np.testing.assert_array_equal(value, weights[name], err_msg=name)
