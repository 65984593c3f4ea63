# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The visual tokenizer a config chooses (`data.tokenizer.kind`), as files and as an object.

`patch_vq` is fitted by `prepare` and saved as one `.npz`; `cosmos` is a directory written by
`python -m lumos_jax convert-tokenizer` (`config.json` + `cosmos.safetensors`). Both implement
`patch_vq.VisualTokenizer` (uint8 video [T, H, W, 3] <-> int32 codes [t, h, w]).
"""

from __future__ import annotations

import hashlib
import os
import pathlib

from lumos_jax.data.config import TokenizerConfig
from lumos_jax.errors import UserError
from lumos_jax.tokenizers import patch_vq

PATCH_VQ_FILE = 'tokenizer.npz'  # in a prepared data version and (as visual_tokenizer.npz) a run
COSMOS_FILES = ('config.json', 'cosmos.safetensors')


def cosmos_dir(config: TokenizerConfig) -> pathlib.Path:
  """The converted Cosmos directory of a `cosmos` config; a UserError naming what is missing."""
  if not config.path:
    raise UserError(
        "data.tokenizer.kind='cosmos' needs data.tokenizer.path: the directory "
        '`python -m lumos_jax convert-tokenizer` wrote (docs/tokenizers.md)'
    )
  path = pathlib.Path(config.path)
  missing = [name for name in COSMOS_FILES if not (path / name).is_file()]
  if missing:
    raise UserError(
        f'data.tokenizer.path={config.path}: {", ".join(missing)} not found; convert '
        "NVIDIA's files with `python -m lumos_jax convert-tokenizer` (docs/tokenizers.md)"
    )
  return path


def fingerprint(config: TokenizerConfig) -> dict:
  """What identifies the tokenizer for the data version: its settings, and for `cosmos` the hash
  of the converted files (the same weights under another path give the same version)."""
  if config.kind == 'patch_vq':
    return {
        'kind': 'patch_vq',
        'patch_size': config.patch_size,
        'iters': config.iters,
        'fit_items': config.fit_items,
    }
  digest = hashlib.sha1()
  for name in COSMOS_FILES:
    with open(cosmos_dir(config) / name, 'rb') as f:
      for block in iter(lambda: f.read(1 << 24), b''):
        digest.update(block)
  return {'kind': 'cosmos', 'sha1': digest.hexdigest(), 'dtype': config.dtype}


def load_cosmos(path: str | os.PathLike, dtype: str = 'bfloat16'):
  """A `CosmosTokenizer` from a converted directory, computing in `dtype`."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from lumos_jax.tokenizers.cosmos import tokenizer  # pylint: disable=g-import-not-at-top

  try:
    return tokenizer.CosmosTokenizer.from_files(path, dtype=jnp.dtype(dtype))
  except (FileNotFoundError, ValueError) as e:
    raise UserError(str(e)) from e


def load(path: str | os.PathLike, dtype: str = 'bfloat16') -> patch_vq.VisualTokenizer:
  """The tokenizer saved at `path`: a patch-VQ `.npz` file or a converted Cosmos directory."""
  path = pathlib.Path(path)
  if path.is_dir():
    return load_cosmos(path, dtype)
  return patch_vq.PatchVQ.load(path)
