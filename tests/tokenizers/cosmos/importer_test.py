# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The Cosmos release importer on files written in NVIDIA's release format.

The files are made here as the fixtures README says: a traced torch module holding the fixture's
weights under the official names (and the TorchScript buffers), cast to bf16 and saved with
`torch.jit.save`, which is the format of NVIDIA's `encoder.jit` / `decoder.jit`. The fixture's
weights are bf16-representable, so the conversion must give them back exactly.
"""

from __future__ import annotations

import json
import pathlib
import sys
import zipfile

import numpy as np
import pytest
import safetensors.numpy

from lumos_jax import testing
from lumos_jax.errors import UserError
from lumos_jax.tokenizers.cosmos import importer
from lumos_jax.tokenizers.cosmos import state_dict
from lumos_jax.tokenizers.cosmos.config import CosmosConfig

torch = pytest.importorskip('torch')
# The release format is TorchScript, which torch deprecates; writing it is the point here.
pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit.*is deprecated:DeprecationWarning')

FIXTURE = testing.REPO / 'tests' / 'fixtures' / 'cosmos_dv_small.npz'
ATTN_Q = 'decoder.mid.attn_1.1.q.conv3d.weight'
RES_CONV = 'encoder.down.1.block.0.conv2.0.conv3d.weight'
# Sampler convs that forward never calls, by tokenizer (COSMOS_DV.md sections 6 and 11), written
# out here rather than taken from state_dict so that both are checked.
_ALL_SAMPLERS = [
    *(f'encoder.down.{i}.downsample.conv{n}' for i in (0, 1) for n in (1, 2, 3)),
    *(f'decoder.up.{i}.upsample.conv{n}' for i in (1, 2) for n in (1, 2, 3)),
]
_USED_SAMPLERS = {
    'DV4x8x8': [
        'encoder.down.0.downsample.conv1',
        'encoder.down.0.downsample.conv3',
        'decoder.up.2.upsample.conv2',
        'decoder.up.2.upsample.conv3',
    ],
    'DV8x8x8': [
        'encoder.down.0.downsample.conv1',
        'encoder.down.0.downsample.conv2',
        'encoder.down.0.downsample.conv3',
        'decoder.up.1.upsample.conv1',
        'decoder.up.1.upsample.conv2',
        'decoder.up.1.upsample.conv3',
    ],
}
# TorchScript keeps these non-persistent buffers (fixtures README); shapes and values are
# irrelevant to the importer, which drops them.
_ENCODER_BUFFERS = {
    'encoder.patcher3d.wavelets': torch.tensor([0.7071, 0.7071]),
    'encoder.patcher3d._arange': torch.arange(2),
    'encoder.patcher3d.patch_size_buffer': torch.tensor(4),
    'quantizer._levels': torch.tensor([8, 8, 8, 5, 5, 5], dtype=torch.int32),
    'quantizer._basis': torch.tensor([1, 8, 64, 512, 2560, 12800], dtype=torch.int32),
    'quantizer.implicit_codebook': torch.rand(16, 6),
}
_DECODER_BUFFERS = {
    'decoder.unpatcher3d.wavelets': torch.tensor([0.7071, 0.7071]),
    'decoder.unpatcher3d._arange': torch.arange(2),
    'inv_quant.quantizer._levels': torch.tensor([8, 8, 8, 5, 5, 5], dtype=torch.int32),
    'inv_quant.quantizer._basis': torch.tensor([1, 8, 64, 512, 2560, 12800], dtype=torch.int32),
    'inv_quant.quantizer.implicit_codebook': torch.rand(16, 6),
}


@pytest.fixture(scope='module')
def fixture():
  return np.load(FIXTURE)


@pytest.fixture(scope='module')
def weights(fixture) -> dict[str, np.ndarray]:
  """All 322 tensors of the eager state dict (the 16 unused sampler tensors included)."""
  return {k[2:]: fixture[k] for k in fixture.files if k.startswith('w/')}


@pytest.fixture(scope='module')
def config(fixture) -> CosmosConfig:
  return CosmosConfig.from_official_kwargs(json.loads(str(fixture['config_json'])))


def _layout(weights, tokenizer: str | None = 'DV4x8x8') -> dict[str, np.ndarray]:
  """The weights as a release of `tokenizer` holds them (its unused sampler convs left out);
  None: the eager layout, every sampler conv."""
  if tokenizer is None:
    return dict(weights)
  dropped = set(_ALL_SAMPLERS) - set(_USED_SAMPLERS[tokenizer])
  return {k: v for k, v in weights.items() if k.rsplit('.', 2)[0] not in dropped}


class _Traced(torch.nn.Module):

  def forward(self, x):
    return x * 2  # the graph is irrelevant; tracing keeps every registered tensor


def _module(tensors: dict[str, np.ndarray], buffers: dict[str, torch.Tensor]) -> torch.nn.Module:
  """A module tree holding `tensors` as parameters and `buffers` under their dotted names."""
  root = _Traced()
  items = [(k, torch.from_numpy(np.array(v)), False) for k, v in tensors.items()]
  for name, value, is_buffer in items + [(k, v, True) for k, v in buffers.items()]:
    *path, leaf = name.split('.')
    module = root
    for part in path:
      if part not in module._modules:
        module.add_module(part, torch.nn.Module())
      module = module._modules[part]
    if is_buffer:
      module.register_buffer(leaf, value.clone(), persistent=False)
    else:
      module.register_parameter(leaf, torch.nn.Parameter(value, requires_grad=False))
  return root


def write_jit(
    path: pathlib.Path, tensors: dict[str, np.ndarray], buffers: dict[str, torch.Tensor]
) -> pathlib.Path:
  """A bf16 TorchScript archive like NVIDIA's; its inner folder is not named after `path`."""
  module = _module(tensors, buffers).to(torch.bfloat16)
  traced = torch.jit.trace(module, torch.zeros(2, dtype=torch.bfloat16))
  saved = path.parent / f'traced_{path.stem}_at_export.jit'
  torch.jit.save(traced, str(saved))
  saved.rename(path)
  return path


def write_release(
    directory: pathlib.Path, tensors: dict[str, np.ndarray], whole: bool = False
) -> pathlib.Path:
  """encoder.jit + decoder.jit (or autoencoder.jit) holding `tensors` and the buffers."""
  directory.mkdir(parents=True, exist_ok=True)
  if whole:
    write_jit(directory / 'autoencoder.jit', tensors, {**_ENCODER_BUFFERS, **_DECODER_BUFFERS})
    return directory
  encoder = {k: v for k, v in tensors.items() if k.startswith(('encoder.', 'quant_conv.'))}
  decoder = {k: v for k, v in tensors.items() if k not in encoder}
  write_jit(directory / 'encoder.jit', encoder, _ENCODER_BUFFERS)
  write_jit(directory / 'decoder.jit', decoder, _DECODER_BUFFERS)
  return directory


@pytest.fixture(scope='module')
def release(weights, tmp_path_factory) -> pathlib.Path:
  """The DV4x8x8 release layout: two bf16 halves without the unused sampler convs."""
  return write_release(tmp_path_factory.mktemp('release'), _layout(weights))


def _assert_converted(out: pathlib.Path, weights, config, fixture) -> None:
  written = safetensors.numpy.load_file(str(out / importer.WEIGHTS_FILE))
  assert set(written) == set(state_dict.expected_shapes(config))  # 306: no unused convs
  for name, array in written.items():
    assert array.dtype == np.float32, name
    np.testing.assert_array_equal(array, weights[name], err_msg=name)
  kwargs = json.loads((out / importer.CONFIG_FILE).read_text())
  assert kwargs == json.loads(str(fixture['config_json']))
  assert sorted(p.name for p in out.iterdir()) == ['config.json', 'cosmos.safetensors']


def test_release_halves_convert_exactly(release, weights, config, fixture, tmp_path):
  with zipfile.ZipFile(release / 'encoder.jit') as zf:
    assert zf.namelist()[0].startswith('traced_encoder_at_export/')  # not the file's name
  out = importer.convert(release, tmp_path / 'converted')
  assert out == tmp_path / 'converted'
  _assert_converted(out, weights, config, fixture)


@pytest.mark.parametrize('whole', [False, True], ids=['halves', 'autoencoder'])
def test_unused_convs_present_are_dropped(weights, config, fixture, tmp_path, whole):
  # The eager layout says nothing about the factors: DV4x8x8 is taken as expected.
  src = write_release(tmp_path / 'src', _layout(weights, None), whole=whole)
  _assert_converted(importer.convert(src, tmp_path / 'out'), weights, config, fixture)


def test_autoencoder_jit_release_layout(weights, config, fixture, tmp_path):
  src = write_release(tmp_path / 'src', _layout(weights), whole=True)
  out = importer.convert(src / 'autoencoder.jit', tmp_path / 'out')
  _assert_converted(out, weights, config, fixture)


def test_plain_state_dicts(weights, config, fixture, tmp_path):
  bf16 = {k: torch.from_numpy(v).bfloat16() for k, v in weights.items()}
  torch.save(bf16, tmp_path / 'model.pt')
  out = importer.convert(tmp_path / 'model.pt', tmp_path / 'a')
  _assert_converted(out, weights, config, fixture)
  torch.save({'state_dict': bf16}, tmp_path / 'checkpoint.pth')
  out = importer.convert(tmp_path / 'checkpoint.pth', tmp_path / 'b')
  _assert_converted(out, weights, config, fixture)
  (tmp_path / 'st').mkdir()
  safetensors.numpy.save_file(_layout(weights), str(tmp_path / 'st' / 'w.safetensors'))
  _assert_converted(importer.convert(tmp_path / 'st', tmp_path / 'c'), weights, config, fixture)


def test_eager_state_dict_needs_expected(weights, tmp_path):
  safetensors.numpy.save_file(weights, str(tmp_path / 'w.safetensors'))
  with pytest.raises(UserError, match='holds every sampler conv.*--expected DV4x8x8'):
    importer.read_release(tmp_path / 'w.safetensors', expected=None)
  kwargs, _ = importer.read_release(tmp_path / 'w.safetensors', expected='DV8x8x8')
  assert kwargs['temporal_compression'] == 8  # taken on trust: the tensors cannot tell


def test_safetensors_bf16_without_torch(weights, config, fixture, tmp_path, monkeypatch):
  import safetensors.torch  # pylint: disable=g-import-not-at-top

  bf16 = {k: torch.from_numpy(v).bfloat16() for k, v in _layout(weights).items()}
  safetensors.torch.save_file(bf16, str(tmp_path / 'w.safetensors'))
  jit = write_release(tmp_path / 'jit', _layout(weights))
  monkeypatch.setitem(sys.modules, 'torch', None)  # `import torch` raises ImportError
  out = importer.convert(tmp_path / 'w.safetensors', tmp_path / 'out')
  _assert_converted(out, weights, config, fixture)
  with pytest.raises(UserError, match=r'encoder\.jit: reading TorchScript .* needs torch'):
    importer.convert(jit, tmp_path / 'out2')


@pytest.mark.parametrize('fmt', ['jit', 'safetensors'])
def test_missing_tensor_is_named(weights, tmp_path, fmt):
  tensors = {k: v for k, v in _layout(weights).items() if k != ATTN_Q}
  tensors.pop('decoder.up.2.upsample.conv2.conv3d.bias')  # a used sampler conv too
  if fmt == 'jit':
    src = write_release(tmp_path / 'src', tensors)
    where = 'decoder.jit'
  else:
    safetensors.numpy.save_file(tensors, str(tmp_path / 'w.safetensors'))
    src, where = tmp_path / 'w.safetensors', 'w.safetensors'
  with pytest.raises(UserError) as e:
    importer.convert(src, tmp_path / 'out')
  assert where in str(e.value)
  assert f'2 missing: {ATTN_Q}, decoder.up.2.upsample.conv2.conv3d.bias' in str(e.value)
  assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('fmt', ['jit', 'safetensors'])
def test_misshaped_and_unexpected_tensors_are_named(weights, tmp_path, fmt):
  tensors = _layout(weights)
  tensors[RES_CONV] = tensors[RES_CONV][:, :, :, :2]
  tensors['encoder.mid.extra.weight'] = np.zeros(3, np.float32)
  if fmt == 'jit':
    src = write_release(tmp_path / 'src', tensors)
  else:
    safetensors.numpy.save_file(tensors, str(tmp_path / 'w.safetensors'))
    src = tmp_path / 'w.safetensors'
  with pytest.raises(UserError) as e:
    importer.convert(src, tmp_path / 'out')
  assert f'{RES_CONV}: expected (64, 64, 1, 3, 3), got (64, 64, 1, 2, 3)' in str(e.value)
  assert '1 unexpected: encoder.mid.extra.weight' in str(e.value)


def test_dv8x8x8_release_is_refused(weights, config, tmp_path):
  src = write_release(tmp_path / 'src', _layout(weights, 'DV8x8x8'))
  with pytest.raises(UserError) as e:
    importer.convert(src, tmp_path / 'out')
  assert (
      'this is a DV8x8x8 tokenizer (temporal compression 8), Lumos-1 needs DV4x8x8 '
      '(nvidia/Cosmos-Tokenizer-DV4x8x8)'
  ) in str(e.value)
  assert not (tmp_path / 'out').exists()
  # Asked for, it converts: the DV8x8x8 tensors, none of DV4x8x8's own sampler convs.
  out = importer.convert(src, tmp_path / 'out', expected='Cosmos-0.1-Tokenizer-DV8x8x8')
  assert json.loads((out / 'config.json').read_text())['temporal_compression'] == 8
  written = safetensors.numpy.load_file(str(out / importer.WEIGHTS_FILE))
  assert 'decoder.up.1.upsample.conv1.conv3d.weight' in written
  assert not any(k.startswith('decoder.up.2.upsample.') for k in written)
  assert set(written) == set(state_dict.expected_shapes(CosmosConfig.dv8x8x8(channels=16)))


def test_detection_is_exact_per_layout(weights, config):
  kwargs = config.official_kwargs()
  assert importer.detect_compression(_layout(weights), kwargs) == (4, 8)
  assert importer.detect_compression(_layout(weights, 'DV8x8x8'), kwargs) == (8, 8)
  assert importer.detect_compression(_layout(weights, None), kwargs) is None
  # One used sampler conv lost: still the nearest layout (the strict check names the loss).
  partial = {k for k in _layout(weights) if not k.startswith('encoder.down.0.downsample.conv3')}
  assert importer.detect_compression(partial, kwargs) == (4, 8)


def test_architecture_from_shapes(weights, fixture):
  factors = {'temporal_compression': 4, 'spatial_compression': 8}  # not from the shapes
  want = json.loads(str(fixture['config_json']))
  assert {**importer.architecture_kwargs(weights), **factors} == want
  big = {k: np.empty(v, np.float32) for k, v in state_dict.official_shapes(CosmosConfig()).items()}
  want = CosmosConfig.dv4x8x8().official_kwargs()
  assert {**importer.architecture_kwargs(big), **factors} == want


def test_wrong_sources_are_clear(release, tmp_path):
  with pytest.raises(UserError, match='no such file or directory'):
    importer.convert(tmp_path / 'nowhere', tmp_path / 'out')
  (tmp_path / 'empty').mkdir()
  (tmp_path / 'empty' / 'README.md').write_text('hi')
  with pytest.raises(UserError, match=r'no Cosmos tokenizer files: expected encoder\.jit \+ deco'):
    importer.convert(tmp_path / 'empty', tmp_path / 'out')
  half = tmp_path / 'half'
  half.mkdir()
  (half / 'encoder.jit').write_bytes((release / 'encoder.jit').read_bytes())
  with pytest.raises(UserError, match='has encoder.jit but no decoder.jit'):
    importer.convert(half, tmp_path / 'out')
  (half / 'decoder.jit').write_bytes(b'<html>an error page</html>')
  with pytest.raises(UserError, match=r'decoder\.jit: cannot be read by torch'):
    importer.convert(half, tmp_path / 'out')
  (half / 'decoder.jit').write_text('version https://git-lfs.github.com/spec/v1\noid sha256:0\n')
  with pytest.raises(UserError, match=r'decoder\.jit: is a Git LFS pointer'):
    importer.convert(half, tmp_path / 'out')
  # An encoder alone (named so that its folder is not searched): every decoder tensor is missing.
  (tmp_path / 'enc.jit').write_bytes((release / 'encoder.jit').read_bytes())
  with pytest.raises(UserError, match='missing: decoder.conv_in.0.conv3d.weight'):
    importer.convert(tmp_path / 'enc.jit', tmp_path / 'out')
  with pytest.raises(UserError, match="tokenizer name 'DV4x8'"):
    importer.convert(release, tmp_path / 'out', expected='DV4x8')
  assert not (tmp_path / 'out').exists()


def test_output_is_atomic(release, tmp_path):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'keep.txt').write_text('mine')
  with pytest.raises(UserError, match='already exists and is not an empty directory'):
    importer.convert(release, out)
  assert [p.name for p in out.iterdir()] == ['keep.txt']
  (out / 'keep.txt').unlink()
  importer.convert(release, out)  # an empty directory is fine
  assert sorted(p.name for p in tmp_path.iterdir()) == ['out']  # no temporary left behind


def test_main(release, tmp_path, capsys):
  assert importer.main(['--src', str(release), '--out', str(tmp_path / 'out')]) == 0
  assert capsys.readouterr().out.strip() == str(tmp_path / 'out')
  assert importer.main(['--src', str(release), '--out', str(tmp_path / 'out')]) == 2
  assert 'error: ' in capsys.readouterr().err
  with pytest.raises(UserError):
    importer.main(['--src', str(tmp_path / 'x'), '--out', str(tmp_path / 'y'), '--debug'])


def test_converted_directory_tokenizes_like_the_official_code(release, fixture, tmp_path):
  tokenizer_lib = pytest.importorskip('lumos_jax.tokenizers.cosmos.tokenizer')
  assert (tokenizer_lib.CONFIG_FILE, tokenizer_lib.WEIGHTS_FILE) == (
      importer.CONFIG_FILE,
      importer.WEIGHTS_FILE,
  )
  tokenizer = tokenizer_lib.CosmosTokenizer.from_files(importer.convert(release, tmp_path / 'out'))
  indices = tokenizer.encode(fixture['video/x_uint8'])
  want = fixture['video/indices']
  assert indices.shape == want.shape
  # A cell within 1e-3 of an FSQ rounding boundary may flip in float32 (fixtures README).
  sure = fixture['video/bound_margin'] > 1e-3
  assert sure.mean() > 0.95
  np.testing.assert_array_equal(indices[sure], want[sure])
