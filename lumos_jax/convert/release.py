# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`python -m lumos_jax convert`: a released Lumos-1 checkpoint -> a self-contained run directory.

  python -m lumos_jax convert --hf_dir DIR --text_tokenizer FILE --cosmos_dir DIR --out WORKDIR

Reads the Hugging Face folder of a released checkpoint (spec section 4): `config.json` (a
ChameleonConfig with `mm_rope`) and the weights, as `model*.safetensors` shards (with or without
`model.safetensors.index.json`) or as `pytorch_model*.bin` shards (torch needed for these only),
bf16 as released. Writes the run directory `sample` and `eval` load (lumos_jax/run_dir.py):

  WORKDIR/config.json            lumos1 vocabulary, the released model shape (q/k-norm groups read
                                 from the weights), bf16, the official 384p text-to-video data and
                                 sampling settings (spec 7.1)
  WORKDIR/vocab.json             the lumos1 vocabulary
  WORKDIR/visual_tokenizer/      the converted Cosmos DV4x8x8 of --cosmos_dir (`convert-tokenizer`)
  WORKDIR/text_tokenizer.json    a copy of --text_tokenizer
  WORKDIR/checkpoints/0/state    the parameters in Orbax (params only, bf16 as released), the
                                 layout `checkpoint.restore_params` reads

Every tensor name and shape is checked from the shard headers before any tensor is read, so a
checkpoint that does not fit its config.json fails at once, naming the tensors. The weights are
then streamed: safetensors shards one tensor at a time, `.bin` shards one at a time (memory
mapped), each tensor converted straight into its slot of the stacked parameter arrays, so the
peak host memory stays near one copy of the parameters. The directory appears complete or not
at all: it is written to a temporary sibling and renamed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import pathlib
import struct
import sys
import zipfile
from typing import Any, Callable, Iterator, Mapping, Sequence

import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from lumos_jax import atomic_dir, checkpoint, errors, official, run_dir
from lumos_jax import config as config_lib
from lumos_jax.convert import hf_chameleon
from lumos_jax.errors import UserError
from lumos_jax.model.config import ModelConfig
from lumos_jax.tokenizers import text as text_lib, visual
from lumos_jax.tokenizers.cosmos.config import CosmosConfig

CHECKPOINTS = 'checkpoints'  # below the run directory, as `inference.load_run` reads it
_SAFETENSORS = ('model.safetensors.index.json', 'model*.safetensors')
_TORCH = ('pytorch_model.bin.index.json', 'pytorch_model*.bin')
_SAFETENSORS_DTYPES = {'BF16': jnp.bfloat16, 'F16': '<f2', 'F32': '<f4', 'F64': '<f8'}
_MAX_HEADER = 100 << 20  # safetensors' own limit on the JSON header
_MAX_LISTED = 10  # problems named in one error message

# The official 384p text-to-video settings (spec 2.2, 7.1; configs/lumos1_*_stage2_joint.py at
# data.size (384, 672)): 672x384 pixels, 12 fps for 2 s (24 RGB frames, 7 Cosmos latent frames).
_DATA = dict(
    dir='data/lumos1',
    source='user',
    size=(384, 672),
    frames=25,  # 12 fps x 2 s + the first frame
    fps=12,
    fps_duration=((12, 2),),
    max_text_tokens=256,
    prompt_template=official.TEMPLATE,  # spec 2.2
)
_SAMPLE = dict(
    steps=50, cfg_scale=15.0, temperature=1.0, temperature_mode='official', history_mask_ratio=0.7
)


# -----------------------------------------------------------------------------------------------
# Reading the weight files
# -----------------------------------------------------------------------------------------------


def _check_not_lfs_pointer(path: pathlib.Path) -> None:
  with open(path, 'rb') as f:
    if f.read(24) == b'version https://git-lfs.':
      raise UserError(f'{path}: a Git LFS pointer, not the weights; fetch them (git lfs pull)')


class _SafetensorsShard:
  """One `.safetensors` file, read one tensor at a time (never the whole file)."""

  def __init__(self, path: pathlib.Path):
    self.path = path
    _check_not_lfs_pointer(path)
    size = path.stat().st_size
    with open(path, 'rb') as f:
      try:
        (length,) = struct.unpack('<Q', f.read(8))
        if length > min(_MAX_HEADER, size - 8):
          raise ValueError(f'header length {length} exceeds the file')
        header = json.loads(f.read(length))
      except (struct.error, ValueError) as e:
        raise UserError(f'{path}: not a safetensors file ({e})') from e
    header.pop('__metadata__', None)
    self._base = 8 + length
    self._entries = {}  # name -> (dtype, shape, start)
    for name, info in header.items():
      try:
        dtype, shape, (start, end) = info['dtype'], tuple(info['shape']), info['data_offsets']
      except (KeyError, TypeError, ValueError) as e:
        raise UserError(f'{path}: malformed header entry for tensor {name}: {info}') from e
      if dtype not in _SAFETENSORS_DTYPES:
        raise UserError(
            f'{path}: tensor {name} has dtype {dtype}; expected one of {list(_SAFETENSORS_DTYPES)}'
        )
      dtype = np.dtype(_SAFETENSORS_DTYPES[dtype])
      if end - start != math.prod(shape) * dtype.itemsize or self._base + end > size:
        raise UserError(f'{path}: tensor {name} {shape} does not fit its bytes (truncated file?)')
      self._entries[name] = (dtype, shape, start)

  def shapes(self) -> dict[str, tuple[int, ...]]:
    return {name: shape for name, (_, shape, _) in self._entries.items()}

  def tensors(self, wanted: Callable[[str], bool]) -> Iterator[tuple[str, np.ndarray]]:
    """The `wanted` tensors in file order, each read into a fresh array."""
    with open(self.path, 'rb') as f:
      for name, (dtype, shape, start) in sorted(self._entries.items(), key=lambda e: e[1][2]):
        if not wanted(name):
          continue
        data = np.empty(math.prod(shape) * dtype.itemsize, np.uint8)
        f.seek(self._base + start)
        if f.readinto(memoryview(data)) != data.size:
          raise UserError(f'{self.path}: tensor {name} is truncated')
        yield name, data.view(dtype).reshape(shape)
        del data  # before the next tensor is allocated


class _TorchShard:
  """One `pytorch_model*.bin` file (torch.save), loaded memory-mapped where its format allows."""

  def __init__(self, path: pathlib.Path):
    self.path = path
    _check_not_lfs_pointer(path)

  def _load(self) -> dict[str, Any]:
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise UserError(f'{self.path}: reading .bin weights needs torch (pip install torch)') from e
    try:  # weights_only: no code runs from the pickle; mmap: pages are read when touched
      tensors = torch.load(
          str(self.path),
          map_location='cpu',
          weights_only=True,
          mmap=zipfile.is_zipfile(self.path),  # the legacy (pre-1.6) format cannot be mapped
      )
    except Exception as e:  # torch raises RuntimeError, pickle errors, EOFError, ...
      raise UserError(f'{self.path}: cannot be read by torch ({type(e).__name__}: {e})') from e
    if not isinstance(tensors, Mapping):
      raise UserError(f'{self.path}: holds a {type(tensors).__name__}, not a state dict')
    for name, t in tensors.items():
      if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise UserError(f'{self.path}: entry {name} is not a floating-point tensor')
    return dict(tensors)

  def shapes(self) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in self._load().items()}

  def tensors(self, wanted: Callable[[str], bool]) -> Iterator[tuple[str, Any]]:
    tensors = self._load()
    for name in list(tensors):
      tensor = tensors.pop(name)  # nothing keeps a converted tensor's source alive
      if wanted(name):
        yield name, tensor
      del tensor


@dataclasses.dataclass
class Weights:
  """The weight shards of a released folder and every tensor's shape, read from their headers."""

  shards: list[Any]  # _SafetensorsShard | _TorchShard, in file order
  shapes: dict[str, tuple[int, ...]]  # every tensor of every shard
  problems: list[str]  # tensors given twice, or not where the index says


def _read_index(path: pathlib.Path) -> dict[str, str]:
  try:
    weight_map = json.loads(path.read_text())['weight_map']
    if not isinstance(weight_map, dict):
      raise TypeError(f'weight_map is a {type(weight_map).__name__}')
  except (ValueError, KeyError, TypeError) as e:
    raise UserError(f'{path}: not a weight index with a weight_map ({e})') from e
  missing = sorted({f for f in weight_map.values() if not (path.parent / f).is_file()})
  if missing:
    raise UserError(f'{path}: names shard files that are missing: {", ".join(missing)}')
  return weight_map


def _shard_files(hf_dir: pathlib.Path) -> tuple[type, list[pathlib.Path], dict[str, str] | None]:
  """(shard class, shard files, the index's weight_map or None); safetensors first."""
  for (index_name, pattern), kind in ((_SAFETENSORS, _SafetensorsShard), (_TORCH, _TorchShard)):
    index = hf_dir / index_name
    if index.is_file():
      weight_map = _read_index(index)
      return kind, sorted({hf_dir / f for f in weight_map.values()}), weight_map
    files = sorted(hf_dir.glob(pattern))
    if files:
      return kind, files, None
  raise UserError(
      f'{hf_dir}: no weights found; expected {_SAFETENSORS[1]} (with or without '
      f'{_SAFETENSORS[0]}) or {_TORCH[1]}'
  )


def read_weights(hf_dir: str | os.PathLike) -> Weights:
  """Finds the weight files of a released folder and reads every tensor's shape (not the data).

  safetensors files win over `.bin` files; an index (`*.index.json`) lists the shards, otherwise
  every file matching `model*.safetensors` / `pytorch_model*.bin` is one.

  Raises:
    UserError when no weights are found, or a file is unreadable.
  """
  hf_dir = pathlib.Path(hf_dir)
  kind, files, weight_map = _shard_files(hf_dir)
  shards = [kind(f) for f in files]
  shapes, owner, problems = {}, {}, []
  for shard in shards:
    for name, shape in shard.shapes().items():
      if name in owner:
        problems.append(f'{name}: in both {owner[name].name} and {shard.path.name}')
      shapes[name], owner[name] = shape, shard.path
  for name, file in sorted((weight_map or {}).items()):
    if name not in owner or owner[name].name != file:
      where = owner[name].name if name in owner else 'no shard'
      problems.append(f'{name}: the index puts it in {file}, found in {where}')
  return Weights(shards, shapes, problems)


# -----------------------------------------------------------------------------------------------
# Configs and tokenizers
# -----------------------------------------------------------------------------------------------


def _read_json(path: pathlib.Path) -> dict:
  if not path.is_file():
    raise UserError(f'{path} not found')
  try:
    return json.loads(path.read_text())
  except ValueError as e:
    raise UserError(f'{path}: not valid JSON ({e})') from e


def model_config(
    hf_config: Mapping[str, Any], shapes: Mapping[str, Sequence[int]], param_dtype: str
) -> ModelConfig:
  """The decoder of a release: shape from its HF config, q/k-norm groups from its weights, bf16
  compute, parameters stored in `param_dtype`. Raises ValueError naming the field or tensor."""
  config = hf_chameleon.model_config_from_hf(
      hf_config,
      dtype='bfloat16',  # the official inference runs under bf16 autocast (spec 7.1)
      param_dtype=param_dtype,
      attention_impl='auto',  # a 384p clip is ~29k tokens: never the dense [L, L] mask
      remat_policy='full',  # as the official recipes, for fine-tuning (no effect on sampling)
  )
  return dataclasses.replace(config, **hf_chameleon.norm_groups(shapes, config))


def run_config(model: ModelConfig, workdir: pathlib.Path) -> config_lib.Config:
  """The complete config of a converted run in `workdir` (absolute), parsed.

  `config_lib.parse` completes it from `base.get_config()`: the lumos1 vocabulary, `model`, the
  official 384p text-to-video data and sampling settings, and the tokenizers in `workdir`.
  """
  fields = dataclasses.asdict(model)
  vocab_size = fields.pop('vocab_size')  # the vocabulary's size in a config, not a model key
  overrides = {
      'vocab': {'preset': 'lumos1', 'codebook_size': 0},
      'model': fields,
      'data': {
          **_DATA,
          'text_tokenizer': str(workdir / run_dir.TEXT_TOKENIZER),
          'tokenizer': {
              'kind': 'cosmos',
              'path': str(workdir / run_dir.COSMOS_TOKENIZER),
              'dtype': 'bfloat16',  # spec 8.1
          },
      },
      'sample': dict(_SAMPLE),
  }
  config = config_lib.parse(overrides)
  if vocab_size != config.vocab.size:
    raise UserError(
        f'vocab_size={vocab_size}: a Lumos-1 checkpoint has the {config.vocab.size} ids of the '
        'lumos1 vocabulary (65,536 text + 64,000 Cosmos codes)'
    )
  return config


def _check_tokenizers(
    text_tokenizer: pathlib.Path, cosmos_dir: pathlib.Path, config: config_lib.Config
) -> None:
  """Fails before any weight is read when a tokenizer is missing or does not fit the vocabulary."""
  vocab = config.vocab
  if not text_tokenizer.is_file():
    raise UserError(f'--text_tokenizer={text_tokenizer}: no such file')
  try:
    text_lib.for_vocab(vocab, str(text_tokenizer))
  except (OSError, ValueError) as e:
    raise UserError(f'--text_tokenizer={text_tokenizer}: {e}') from e
  visual.cosmos_dir(dataclasses.replace(config.data.tokenizer, path=str(cosmos_dir)))
  path = cosmos_dir / visual.COSMOS_FILES[0]
  try:
    cosmos = CosmosConfig.from_official_kwargs(_read_json(path))
  except ValueError as e:
    raise UserError(f'{path}: {e}') from e
  found = (cosmos.codebook_size, cosmos.temporal_compression, cosmos.spatial_compression)
  want = (vocab.codebook_size, *vocab.rope_strides[:2])
  if found != want:
    raise UserError(
        f'{path}: a tokenizer with {found[0]} codes, {found[1]}x temporal and {found[2]}x spatial '
        f'compression; Lumos-1 uses Cosmos DV4x8x8 ({want[0]} codes)'
    )


# -----------------------------------------------------------------------------------------------
# Conversion
# -----------------------------------------------------------------------------------------------


def _mismatch(hf_dir: pathlib.Path, problems: Sequence[str]) -> UserError:
  shown = '; '.join(problems[:_MAX_LISTED])
  more = f'; and {len(problems) - _MAX_LISTED} more' if len(problems) > _MAX_LISTED else ''
  return UserError(f'{hf_dir}: the weights do not match its config.json: {shown}{more}')


def _read_params(
    weights: Weights, model: ModelConfig, progress: Callable[[str], None]
) -> dict[tuple[str, ...], np.ndarray]:
  assembler = hf_chameleon.ParamAssembler(model)
  for i, shard in enumerate(weights.shards):
    progress(f'reading {shard.path.name} ({i + 1}/{len(weights.shards)})')
    for name, tensor in shard.tensors(lambda n: not hf_chameleon.ignored(n)):
      try:
        assembler.add(name, tensor)
      except ValueError as e:  # only when a file changed since its header was read
        raise UserError(f'{shard.path}: {e}') from e
      del tensor  # before the next one is read
  return assembler.params()


def _save_params(
    directory: pathlib.Path, config: config_lib.Config, params: Mapping[tuple[str, ...], Any]
) -> None:
  """Writes checkpoint 0: the `params` subtree `checkpoint.restore_params` reads, and the config.

  The items are `checkpoint.Checkpointer`'s, but the state is written straight from the numpy
  arrays and uncompressed: Orbax's default numpy handler deep-copies every host array before
  writing, and compressed chunks are held in memory until the commit; either would add up to
  another copy of the parameters (and bf16 weights compress little).
  """
  _, state = hf_chameleon.params_state(config.model, params)
  registry = ocp.type_handlers.create_type_handler_registry(
      (np.ndarray, ocp.type_handlers.NumpyHandler(deepcopy_host_arrays=False))
  )
  handlers = {
      checkpoint.STATE: ocp.PyTreeCheckpointHandler(
          type_handler_registry=registry, use_compression=False
      ),
      checkpoint.CONFIG: ocp.JsonCheckpointHandler(),
  }
  options = ocp.CheckpointManagerOptions(enable_async_checkpointing=False, create=True)
  with ocp.CheckpointManager(directory, options=options, item_handlers=handlers) as manager:
    items = {
        checkpoint.STATE: ocp.args.PyTreeSave({'params': state}),
        checkpoint.CONFIG: ocp.args.JsonSave(config.raw),
    }
    manager.save(0, args=ocp.args.Composite(**items))


def convert(
    hf_dir: str | os.PathLike,
    text_tokenizer: str | os.PathLike,
    cosmos_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    param_dtype: str = 'bfloat16',
    progress: Callable[[str], None] | None = None,
) -> pathlib.Path:
  """Converts a released Lumos-1 folder into the run directory `out` (see the module docstring).

  Args:
    hf_dir: the Hugging Face folder (config.json and the weight shards).
    text_tokenizer: the text tokenizer.json (Chameleon's, with Lumos-1's ids).
    cosmos_dir: the Cosmos DV4x8x8 directory written by `convert-tokenizer`.
    out: the run directory to create; it must not exist, or be empty.
    param_dtype: storage dtype of the parameters (the release's bf16 by default).
    progress: called with a line per stage (e.g. `print`), or None.

  Returns:
    `out`, absolute.

  Raises:
    UserError naming the file, field or tensors: an unreadable or inconsistent input, weights
    that do not match config.json (every missing, unknown or wrongly shaped tensor), tokenizers
    that do not fit the lumos1 vocabulary, or an `out` that is not empty.
  """
  progress = progress or (lambda _: None)
  hf_dir, out = pathlib.Path(hf_dir), pathlib.Path(out).absolute()
  text_tokenizer, cosmos_dir = pathlib.Path(text_tokenizer), pathlib.Path(cosmos_dir)
  atomic_dir.check_free(out)
  hf_config_path = hf_dir / 'config.json'
  hf_config = _read_json(hf_config_path)
  weights = read_weights(hf_dir)
  try:
    model = model_config(hf_config, weights.shapes, param_dtype)
  except ValueError as e:  # names the config field or the q/k-norm tensor
    raise UserError(f'{hf_dir}: {e}') from e
  try:
    config = run_config(model, out)
  except UserError as e:
    raise UserError(f'{hf_config_path}: {e}') from e
  _check_tokenizers(text_tokenizer, cosmos_dir, config)
  problems = weights.problems + hf_chameleon.check(weights.shapes, hf_chameleon.param_map(model))
  if problems:
    raise _mismatch(hf_dir, problems)

  with atomic_dir.new_directory(out) as tmp:
    # run_dir.write takes config.json from `config.raw` (naming the copies in `out`) and copies
    # the text tokenizer from `config.data.text_tokenizer`: here the user's file.
    source = dataclasses.replace(
        config, data=dataclasses.replace(config.data, text_tokenizer=str(text_tokenizer))
    )
    run_dir.write(tmp, source, version_dir=None)
    run_dir.copy_cosmos(cosmos_dir, tmp)
    params = _read_params(weights, model, progress)
    size = sum(v.nbytes for v in params.values())
    progress(f'writing {size / 2**30:.2f} GiB of {param_dtype} parameters')
    _save_params(tmp / CHECKPOINTS, config, params)
    del params
  return out


def main(argv: Sequence[str] | None = None) -> int:
  """`python -m lumos_jax convert --hf_dir DIR --text_tokenizer FILE --cosmos_dir DIR --out DIR`."""
  parser = argparse.ArgumentParser(
      prog='python -m lumos_jax convert',
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
      '--hf_dir', required=True, help='released checkpoint: config.json + weight shards'
  )
  parser.add_argument(
      '--text_tokenizer', required=True, help="the text tokenizer.json (Chameleon's vocabulary)"
  )
  parser.add_argument(
      '--cosmos_dir', required=True, help='Cosmos DV4x8x8 directory written by convert-tokenizer'
  )
  parser.add_argument('--out', required=True, help='run directory to create (must not exist)')
  parser.add_argument('--debug', action='store_true', help='show the traceback of an error')
  args = parser.parse_args(argv)

  def command() -> int:
    out = convert(
        args.hf_dir,
        args.text_tokenizer,
        args.cosmos_dir,
        args.out,
        progress=lambda line: print(line, file=sys.stderr),
    )
    print(out)
    return 0

  return errors.run_command(command, args.debug)


if __name__ == '__main__':
  sys.exit(main())
