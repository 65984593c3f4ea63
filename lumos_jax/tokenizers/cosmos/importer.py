# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Importer for NVIDIA's released Cosmos DV tokenizer files (COSMOS_DV.md sections 10, 11).

NVIDIA ships `encoder.jit` and `decoder.jit` (or one `autoencoder.jit`): TorchScript archives
whose `state_dict()` holds the official parameter names in bf16, plus non-persistent buffers, and
no architecture config. `convert` turns them into a directory that needs no torch:

  out/cosmos.safetensors   the used tensors under their official names, float32
  out/config.json          the kwargs of the official class, compression factors included

The architecture is read from the tensors: the widths from their shapes, and the compression
factors from which sampler convs are present. All DV tokenizers with the same widths have the
same tensor shapes, so a DV8x8x8 file fits the DV4x8x8 model; the official loader would load it
without a word (the Lumos README links the DV8x8x8 files). The released files omit the sampler
convs that forward never calls, and that set differs between the factors, so it gives them away.
An eager state dict holds every sampler conv and says nothing; then the `expected` factors are
taken on trust, with a warning.

Reading TorchScript and `.pt` files needs torch (an optional extra, imported only here);
`.safetensors` files are read without it.

  python -m lumos_jax convert-tokenizer --src DIR --out PATH [--expected DV4x8x8]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import struct
import sys
import warnings
import zipfile
from typing import Any, Mapping, Sequence

import numpy as np
import safetensors.numpy
from absl import logging

from lumos_jax import atomic_dir, errors
from lumos_jax.errors import UserError
from lumos_jax.tokenizers.cosmos import state_dict
from lumos_jax.tokenizers.cosmos.config import CosmosConfig

WEIGHTS_FILE = 'cosmos.safetensors'
CONFIG_FILE = 'config.json'
LUMOS_TOKENIZER = 'DV4x8x8'  # the tokenizer Lumos-1 was trained with
_HF = 'huggingface.co/nvidia/Cosmos-Tokenizer-{}'
_JIT_HALVES = ('encoder.jit', 'decoder.jit')
_JIT_WHOLE = 'autoencoder.jit'
_STATE_DICT_SUFFIXES = ('.safetensors', '.pt', '.pth', '.bin')
# Everything under these prefixes is a TorchScript buffer (the Haar filters and the FSQ tables are
# rebuilt from the config), beyond the exact names in state_dict.TORCHSCRIPT_BUFFERS.
_BUFFER_PREFIXES = ('encoder.patcher3d.', 'decoder.unpatcher3d.', 'quantizer.', 'inv_quant.')
_SAMPLER = re.compile(r'^(encoder\.down\.\d+\.downsample|decoder\.up\.\d+\.upsample)\.conv\d\.')
# The only FSQ of the DV family; levels cannot be read from the tensors (only their count).
_FSQ_LEVELS = {6: (8, 8, 8, 5, 5, 5)}
_SAFETENSORS_DTYPES = {
    'F64': '<f8',
    'F32': '<f4',
    'F16': '<f2',
    'I64': '<i8',
    'I32': '<i4',
    'I16': '<i2',
    'I8': 'i1',
    'U8': 'u1',
    'BOOL': '?',
}


def parse_name(name: str) -> tuple[int, int]:
  """(temporal, spatial) compression of a DV tokenizer name.

  Args:
    name: `DV4x8x8`, or a name ending in it (`Cosmos-0.1-Tokenizer-DV4x8x8`,
      `nvidia/Cosmos-Tokenizer-DV4x8x8`).

  Raises:
    UserError: for anything else.
  """
  match = re.search(r'DV(\d+)x(\d+)x(\d+)$', name)
  if not match or match.group(2) != match.group(3):
    raise UserError(f'tokenizer name {name!r}: expected DV<time>x<space>x<space>, e.g. DV4x8x8')
  return int(match.group(1)), int(match.group(2))


def _name(temporal: int, spatial: int) -> str:
  return f'DV{temporal}x{spatial}x{spatial}'


# -------------------------------------------------------------------------------------------------
# Reading files


def _source_files(src: pathlib.Path) -> list[pathlib.Path]:
  """The files of a release: both jit halves, the whole-model jit, or one state-dict file."""
  if not src.exists():
    raise UserError(f'{src}: no such file or directory')
  if src.is_file():
    # A half named directly: take both halves from its folder.
    return _source_files(src.parent) if src.name in _JIT_HALVES else [src]
  halves = [src / n for n in _JIT_HALVES]
  present = [p for p in halves if p.is_file()]
  if len(present) == 2:
    return halves
  if (src / _JIT_WHOLE).is_file():
    return [src / _JIT_WHOLE]
  if present:
    missing = next(p.name for p in halves if not p.is_file())
    raise UserError(
        f'{src}: has {present[0].name} but no {missing} (nor {_JIT_WHOLE}); '
        f'download both from {_HF.format(LUMOS_TOKENIZER)}'
    )
  candidates = sorted(p for p in src.iterdir() if p.is_file() and p.suffix in _STATE_DICT_SUFFIXES)
  if len(candidates) == 1:
    return candidates
  found = ', '.join(sorted(p.name for p in src.iterdir())[:20]) or 'nothing'
  if candidates:
    raise UserError(
        f'{src}: several state-dict files ({found}); pass the one to convert as --src FILE'
    )
  raise UserError(
      f'{src}: no Cosmos tokenizer files: expected {" + ".join(_JIT_HALVES)} or {_JIT_WHOLE} '
      f'(from {_HF.format(LUMOS_TOKENIZER)}) or one state-dict file '
      f'({", ".join(_STATE_DICT_SUFFIXES)}); found: {found}'
  )


def _import_torch(path: pathlib.Path):
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise UserError(
        f'{path}: reading TorchScript / torch files needs torch, which is not installed '
        '(an optional extra: `pip install torch`, the CPU build is enough; only the conversion '
        'needs it, the converted directory does not)'
    ) from e
  return torch


def _zip_kind(path: pathlib.Path) -> str | None:
  """'torchscript' or 'torch' for a torch zip archive, None for anything else.

  Both kinds keep their entries under one top folder, named after the file at save time (so not
  necessarily `encoder/`); TorchScript archives also hold the traced code under it.
  """
  if not zipfile.is_zipfile(path):
    return None
  with zipfile.ZipFile(path) as zf:
    names = zf.namelist()
  tops = {n.split('/', 1)[0] for n in names}
  top = tops.pop() if len(tops) == 1 else None
  if top is None or f'{top}/data.pkl' not in names:
    raise UserError(f'{path}: a zip file, but not a torch archive (no single <folder>/data.pkl)')
  return 'torchscript' if any(n.startswith(f'{top}/code/') for n in names) else 'torch'


def _check_not_lfs_pointer(path: pathlib.Path) -> None:
  with open(path, 'rb') as f:
    head = f.read(64)
  if head.startswith(b'version https://git-lfs'):
    raise UserError(
        f'{path}: is a Git LFS pointer, not the file itself; fetch the files with `git lfs pull` '
        f'in the clone, or `huggingface-cli download nvidia/Cosmos-Tokenizer-{LUMOS_TOKENIZER}`'
    )


def _to_numpy(torch, tensors: Mapping[str, Any], path: pathlib.Path) -> dict[str, np.ndarray]:
  out = {}
  for name, t in tensors.items():
    if not isinstance(t, torch.Tensor):
      raise UserError(f'{path}: entry {name!r} is a {type(t).__name__}, not a tensor')
    t = t.detach().cpu()
    # bf16 -> float32 is exact; numpy has no bf16.
    out[name] = (t.to(torch.float32) if t.is_floating_point() else t).numpy()
  return out


def _read_torch(path: pathlib.Path) -> dict[str, np.ndarray]:
  kind = _zip_kind(path)
  torch = _import_torch(path)
  try:
    with warnings.catch_warnings():
      # torch.jit is deprecated, but it is the released format and nothing else reads it.
      warnings.simplefilter('ignore', DeprecationWarning)
      if kind == 'torchscript':
        tensors = dict(torch.jit.load(str(path), map_location='cpu').state_dict())
      else:  # a torch.save file; weights_only: no code runs from the pickle
        tensors = torch.load(str(path), map_location='cpu', weights_only=True)
  except Exception as e:  # torch raises RuntimeError, pickle errors, EOFError, ...
    raise UserError(f'{path}: cannot be read by torch ({type(e).__name__}: {e})') from e
  if isinstance(tensors, Mapping) and isinstance(tensors.get('state_dict'), Mapping):
    tensors = tensors['state_dict']  # a training checkpoint wrapping the state dict
  if not isinstance(tensors, Mapping):
    raise UserError(f'{path}: holds a {type(tensors).__name__}, not a state dict')
  return _to_numpy(torch, tensors, path)


def _read_safetensors(path: pathlib.Path) -> dict[str, np.ndarray]:
  """A safetensors file as numpy, bf16 included (the safetensors numpy reader rejects bf16)."""
  data = path.read_bytes()
  try:
    (size,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8 : 8 + size])
  except (struct.error, ValueError) as e:
    raise UserError(f'{path}: not a safetensors file ({e})') from e
  base, out = 8 + size, {}
  for name, info in header.items():
    if name == '__metadata__':
      continue
    try:
      dtype, shape, (start, end) = info['dtype'], tuple(info['shape']), info['data_offsets']
    except (KeyError, TypeError, ValueError) as e:
      raise UserError(f'{path}: malformed safetensors header entry for {name}: {info}') from e
    raw = data[base + start : base + end]
    if dtype == 'BF16':  # the upper half of a float32: exact
      array = (np.frombuffer(raw, '<u2').astype(np.uint32) << 16).view(np.float32)
    elif dtype in _SAFETENSORS_DTYPES:
      array = np.frombuffer(raw, _SAFETENSORS_DTYPES[dtype])
    else:
      raise UserError(f'{path}: tensor {name} has unsupported dtype {dtype}')
    if array.size != int(np.prod(shape)):
      raise UserError(f'{path}: tensor {name} is truncated ({array.size} of {shape} values)')
    array = array.reshape(shape)
    out[name] = array.astype(np.float32) if array.dtype.kind == 'f' else array.copy()
  return out


def read_file(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
  """All tensors of one file (TorchScript archive, torch state dict or safetensors) as numpy.

  Floating-point tensors (bf16, float16, float32) come back as float32, others unchanged;
  nothing is dropped.
  """
  path = pathlib.Path(path)
  _check_not_lfs_pointer(path)
  if path.suffix == '.safetensors':
    return _read_safetensors(path)
  return _read_torch(path)


def _is_buffer(name: str) -> bool:
  return name in state_dict.TORCHSCRIPT_BUFFERS or name.startswith(_BUFFER_PREFIXES)


def _read_parameters(files: Sequence[pathlib.Path]) -> dict[str, np.ndarray]:
  """The parameters of all `files`, buffers dropped; a name in two files must agree."""
  flat: dict[str, np.ndarray] = {}
  origin: dict[str, pathlib.Path] = {}
  for path in files:
    for name, array in read_file(path).items():
      if _is_buffer(name):
        continue
      if array.dtype != np.float32:
        raise UserError(f'{path}: tensor {name} has dtype {array.dtype}, not floating point')
      if name in flat and not np.array_equal(flat[name], array):
        raise UserError(f'{path}: tensor {name} differs from the one in {origin[name]}')
      flat[name], origin[name] = array, path
  return flat


# -------------------------------------------------------------------------------------------------
# The architecture, from the tensors


def _shape(flat: Mapping[str, np.ndarray], name: str, where: str) -> tuple[int, ...]:
  if name not in flat:
    raise UserError(f'{where}: missing tensor {name} (needed to read the architecture)')
  return tuple(flat[name].shape)


def architecture_kwargs(flat: Mapping[str, np.ndarray], where: str = 'weights') -> dict[str, Any]:
  """The official kwargs the tensor shapes determine, with the DV values for the rest.

  Widths (`channels`, `channels_mult`, `z_channels`), depth (`num_res_blocks`, the level count)
  and the FSQ channel count come from a few tensors; every other tensor is checked against the
  result later (`state_dict.check`). The compression factors are placeholders (patch_size): the
  shapes do not depend on them (`detect_compression`).

  Raises:
    UserError: naming `where` and the tensor, when one that the architecture is read from is
      missing or has an impossible shape.
  """
  conv_in = _shape(flat, 'encoder.conv_in.0.conv3d.weight', where)
  channels, patched = conv_in[0], conv_in[1]
  in_channels = 3  # RGB; the Haar patcher multiplies it by patch_size**3 (192 = 3 * 4**3)
  patch = round((patched / in_channels) ** (1 / 3))
  if in_channels * patch**3 != patched:
    raise UserError(
        f'{where}: encoder.conv_in.0.conv3d.weight {conv_in}: {patched} input channels is not '
        f'3 * patch_size**3'
    )
  levels = {int(m.group(1)) for n in flat if (m := re.match(r'encoder\.down\.(\d+)\.block\.', n))}
  blocks = {int(m.group(1)) for n in flat if (m := re.match(r'encoder\.down\.0\.block\.(\d+)', n))}
  if not levels:
    raise UserError(f'{where}: no encoder.down.*.block.* tensors (not a Cosmos DV tokenizer?)')
  mult = []
  for i in range(max(levels) + 1):
    width = _shape(flat, f'encoder.down.{i}.block.0.conv1.0.conv3d.weight', where)[0]
    if width % channels:
      raise UserError(
          f'{where}: encoder.down.{i}.block.0.conv1.0.conv3d.weight has {width} output channels, '
          f'not a multiple of channels={channels}'
      )
    mult.append(width // channels)
  embedding_dim = _shape(flat, 'quant_conv.conv3d.weight', where)[0]
  if embedding_dim not in _FSQ_LEVELS:
    raise UserError(
        f'{where}: quant_conv.conv3d.weight has {embedding_dim} output channels; only the '
        f'{list(_FSQ_LEVELS)}-channel FSQ of the DV tokenizers is known'
    )
  try:
    config = CosmosConfig(
        in_channels=in_channels,
        out_channels=3,
        channels=channels,
        channels_mult=tuple(mult),
        num_res_blocks=max(blocks) + 1,
        z_channels=_shape(flat, 'encoder.conv_out.1.conv3d.weight', where)[0],
        embedding_dim=embedding_dim,
        levels=_FSQ_LEVELS[embedding_dim],
        patch_size=patch,
        # Placeholders, the smallest factors any widths allow; detect_compression decides.
        temporal_compression=patch,
        spatial_compression=patch,
    )
  except ValueError as e:
    raise UserError(f'{where}: the tensor shapes give an impossible architecture: {e}') from e
  return config.official_kwargs()


def _candidates(kwargs: Mapping[str, Any]) -> dict[tuple[int, int], CosmosConfig]:
  """Every (temporal, spatial) the official class can build with these widths."""
  out = {}
  patch, levels = kwargs['patch_size'], len(kwargs['channels_mult'])
  for t_downs in range(levels):
    for s_downs in range(levels):
      factors = (patch * 2**t_downs, patch * 2**s_downs)
      try:
        out[factors] = CosmosConfig.from_official_kwargs(
            {**kwargs, 'temporal_compression': factors[0], 'spatial_compression': factors[1]}
        )
      except ValueError:
        continue  # e.g. more temporal than spatial downs: not a valid DV
  return out


def detect_compression(
    names: set[str] | Sequence[str], kwargs: Mapping[str, Any], where: str = 'weights'
) -> tuple[int, int] | None:
  """(temporal, spatial) compression from which sampler convs the tensors include.

  Each factor calls its own subset of the `encoder.down.*.downsample.conv*` and
  `decoder.up.*.upsample.conv*` convs; a released file holds exactly that subset (DV4x8x8:
  `encoder.down.0.downsample.conv1/conv3`, `decoder.up.2.upsample.conv2/conv3`; DV8x8x8:
  `encoder.down.0.downsample.conv1/2/3`, `decoder.up.1.upsample.conv1/2/3`). The nearest subset
  wins (a missing tensor is then reported by the strict check), and a file with all of them,
  the eager layout, is undecidable.

  Args:
    names: the tensor names, buffers dropped.
    kwargs: the official kwargs of the widths (`architecture_kwargs`).
    where: the source, for messages.

  Returns:
    The factors, or None when every sampler conv is present (an eager state dict).

  Raises:
    UserError: when two layouts fit equally well.
  """
  candidates = _candidates(kwargs)
  any_config = next(iter(candidates.values()))
  # Only the halves the tensors come from: an encoder alone is judged by its own samplers.
  sides = tuple(side for side in ('encoder.', 'decoder.') if any(n.startswith(side) for n in names))
  everything = {
      n for n in state_dict.official_shapes(any_config) if _SAMPLER.match(n) and n.startswith(sides)
  }
  present = {n for n in names if _SAMPLER.match(n)}
  layouts: dict[tuple[int, int] | None, set[str]] = {None: everything}
  for factors, config in candidates.items():
    layouts[factors] = everything - set(state_dict.unused_names(config))
  distance = {key: len(present ^ used) for key, used in layouts.items()}
  best = min(distance.values())
  nearest = [key for key, d in distance.items() if d == best]
  if len(nearest) > 1:
    raise UserError(
        f'{where}: cannot tell the compression factors: the sampler convs present '
        f'({", ".join(sorted(present)) or "none"}) fit '
        f'{" and ".join(_name(*k) if k else "an eager state dict" for k in nearest)} equally'
    )
  return nearest[0]


# -------------------------------------------------------------------------------------------------
# Import and conversion


def _mismatch(where: str, found: tuple[int, int], expected: str) -> UserError:
  t, s = found
  want_t, want_s = parse_name(expected)
  what = f'temporal compression {t}' + (f', spatial compression {s}' if s != want_s else '')
  msg = f'{where}: this is a {_name(t, s)} tokenizer ({what}), '
  if (want_t, want_s) == parse_name(LUMOS_TOKENIZER):
    msg += f'Lumos-1 needs {LUMOS_TOKENIZER} (nvidia/Cosmos-Tokenizer-{LUMOS_TOKENIZER}); '
    if found == (8, 8):
      msg += 'the Lumos README links the DV8x8x8 files by mistake. '
    msg += f'Download encoder.jit and decoder.jit from {_HF.format(LUMOS_TOKENIZER)}'
  else:
    msg += f'not the expected {_name(want_t, want_s)}'
  return UserError(msg + ' (told by the down/up-sampler convs the file holds)')


def read_release(
    src: str | os.PathLike[str], expected: str | None = LUMOS_TOKENIZER
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """Reads and checks a released Cosmos DV tokenizer.

  Args:
    src: a directory holding `encoder.jit` + `decoder.jit` (or `autoencoder.jit`, or one
      `.safetensors` / `.pt` / `.pth` / `.bin` state dict), or such a file.
    expected: the tokenizer the caller needs (`DV4x8x8`, or a name ending in it); a file of
      other compression factors is an error. None: whatever the file is (an eager state dict,
      which does not tell, is then an error).

  Returns:
    (kwargs, flat): the official kwargs (compression factors included), and official name ->
    float32 array of every tensor the model uses (buffers and never-called sampler convs
    dropped), in the official order.

  Raises:
    UserError: naming the file or directory and the problem: no release there, torch missing
      for a torch file, compression factors other than `expected`, or every missing, unexpected
      or mis-shaped tensor.
  """
  if expected is not None:
    parse_name(expected)  # a bad name fails before any file is read
  src = pathlib.Path(src)
  files = _source_files(src)
  where = ' + '.join(str(p) for p in files)
  flat = _read_parameters(files)
  kwargs = architecture_kwargs(flat, where)
  found = detect_compression(set(flat), kwargs, where)
  if expected is not None and found is not None and found != parse_name(expected):
    raise _mismatch(where, found, expected)
  if found is None:
    if expected is None:
      raise UserError(
          f'{where}: holds every sampler conv (an eager state dict), so the tensors do not tell '
          'the compression factors; say which tokenizer it is (--expected DV4x8x8)'
      )
    found = parse_name(expected)
    logging.warning(
        '%s holds every sampler conv (an eager state dict): its tensors look the same for every '
        'temporal factor, so it is taken to be %s as expected, unverified',
        where,
        _name(*found),
    )
  kwargs.update(temporal_compression=found[0], spatial_compression=found[1])
  try:
    config = CosmosConfig.from_official_kwargs(kwargs)
  except ValueError as e:  # e.g. a DV4x16x16 expected of widths with too few levels
    raise UserError(f'{where}: {e}') from e
  unused = set(state_dict.unused_names(config))
  flat = {k: v for k, v in flat.items() if k not in unused}
  try:
    state_dict.check(config, flat)
  except ValueError as e:
    raise UserError(f'{where}: {e}') from e
  order = list(state_dict.expected_shapes(config))
  return kwargs, {k: flat[k] for k in order}


def convert(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    expected: str | None = LUMOS_TOKENIZER,
) -> pathlib.Path:
  """Converts a release (see `read_release`) into `out/cosmos.safetensors` + `out/config.json`.

  Written float32, not bf16 as released: bf16 -> float32 is exact, numpy (and the safetensors
  numpy reader) has no bf16, and the port runs float32 for parity with the official outputs;
  the file is twice the size (about 420 MB for DV4x8x8).

  The directory appears complete or not at all (written to a temporary sibling, then renamed).

  Args:
    src: the release.
    out: the directory to create; it must not exist, or be empty.
    expected: as in `read_release`.

  Returns:
    `out`.

  Raises:
    UserError: as `read_release`, or when `out` exists and is not empty.
  """
  out = pathlib.Path(out)
  atomic_dir.check_free(out)
  kwargs, flat = read_release(src, expected)
  with atomic_dir.new_directory(out) as tmp:
    metadata = {
        'source': ', '.join(p.name for p in _source_files(pathlib.Path(src))),
        'tokenizer': _name(kwargs['temporal_compression'], kwargs['spatial_compression']),
        'converted_by': __name__,
    }
    safetensors.numpy.save_file(flat, str(tmp / WEIGHTS_FILE), metadata=metadata)
    (tmp / CONFIG_FILE).write_text(json.dumps(kwargs, indent=2, sort_keys=True) + '\n')
  return out


def main(argv: Sequence[str] | None = None) -> int:
  """`python -m lumos_jax convert-tokenizer --src DIR --out PATH [--expected DV4x8x8]`."""
  parser = argparse.ArgumentParser(
      prog='python -m lumos_jax convert-tokenizer',
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
      '--src',
      required=True,
      help='directory with encoder.jit + decoder.jit (or autoencoder.jit), or a state-dict file',
  )
  parser.add_argument('--out', required=True, help='directory to create (must not exist)')
  parser.add_argument(
      '--expected',
      default=LUMOS_TOKENIZER,
      help='the tokenizer the files must be (default %(default)s, what Lumos-1 uses)',
  )
  parser.add_argument('--debug', action='store_true', help='show the traceback of an error')
  args = parser.parse_args(argv)

  def command() -> int:
    print(convert(args.src, args.out, expected=args.expected))
    return 0

  return errors.run_command(command, args.debug)


if __name__ == '__main__':
  sys.exit(main())
