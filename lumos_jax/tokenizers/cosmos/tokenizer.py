# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`CosmosTokenizer`: the Cosmos DV model behind the project's `VisualTokenizer` protocol.

Videos are uint8 RGB [B, T, H, W, 3] (or unbatched [T, H, W, 3]); codes are int32 indices
[B, t, h, w] with t = ceil((T - 1) / 4) + 1 and h, w = H / 8, W / 8 for DV4x8x8. Pixels are
converted as Lumos does (COSMOS_DV.md section 7): in, x / 255 * 2 - 1 (float64, then cast); out,
clamp to [-1, 1], (x + 1) / 2 * 255, truncated to uint8. The model runs functionally
(`nnx.split` once, one `jax.jit` per input shape).
"""

from __future__ import annotations

import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import safetensors.numpy
from flax import nnx

from lumos_jax import parallel
from lumos_jax.tokenizers.cosmos.config import CosmosConfig
from lumos_jax.tokenizers.cosmos.model import CosmosDV, from_state_dict

CONFIG_FILE = 'config.json'  # the official kwargs (`CosmosConfig.official_kwargs`)
WEIGHTS_FILE = 'cosmos.safetensors'  # official names -> torch-layout float32 or bf16 tensors


def _pixels(x: jax.Array) -> jax.Array:
  """Raw decoder output -> uint8, truncating like `astype(uint8)` in Lumos."""
  return ((jnp.clip(x, -1.0, 1.0) + 1.0) / 2.0 * 255.0).astype(jnp.uint8)


class CosmosTokenizer:
  """Encodes videos to Cosmos DV indices and decodes them back (a `VisualTokenizer`).

  Args:
    model: the network with its weights (e.g. from `model.from_state_dict`); its dtype is the
      compute dtype (float32 matches the official float32 outputs, bfloat16 is Lumos's).
  """

  def __init__(self, model: CosmosDV):
    self.config: CosmosConfig = model.config
    self.dtype = model.dtype
    self._graphdef, self._state = nnx.split(model)
    graphdef = self._graphdef

    def encode(state, video):
      return nnx.merge(graphdef, state).encode(video)

    def decode(state, indices):
      x = nnx.merge(graphdef, state).decode(indices)
      return x, _pixels(x)

    self._encode_fn = encode
    self._encode = jax.jit(encode)
    self._sharded = {}
    self._decode = jax.jit(decode)

  @classmethod
  def from_state_dict(
      cls, config: CosmosConfig, flat: dict[str, np.ndarray], dtype=jnp.float32
  ) -> CosmosTokenizer:
    """From official names -> torch-layout arrays (checked strictly; see `state_dict.check`)."""
    return cls(from_state_dict(config, flat, dtype))

  @classmethod
  def from_files(cls, path: str | os.PathLike[str], dtype=jnp.float32) -> CosmosTokenizer:
    """From a directory with `config.json` (official kwargs) and `cosmos.safetensors`.

    Raises:
      FileNotFoundError: when either file is missing.
      ValueError: for a bad config or weights that do not fit it.
    """
    path = pathlib.Path(path)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
      if not (path / name).is_file():
        raise FileNotFoundError(f'{path / name} not found (write it with the Cosmos importer)')
    try:
      config = CosmosConfig.from_official_kwargs(json.loads((path / CONFIG_FILE).read_text()))
    except ValueError as e:
      raise ValueError(f'{path / CONFIG_FILE}: {e}') from e
    flat = safetensors.numpy.load_file(str(path / WEIGHTS_FILE))
    try:
      return cls.from_state_dict(config, flat, dtype)
    except ValueError as e:
      raise ValueError(f'{path / WEIGHTS_FILE}: {e}') from e

  def compiled(self, what: str, shape: tuple[int, ...]) -> jax.stages.Compiled:
    """The compiled 'encode' (float32 video [B, T, H, W, 3]) or 'decode' (int32 indices
    [B, t, h, w]) for one shape, without running it: `.memory_analysis()`, `.cost_analysis()`."""
    fn, dtype = {'encode': (self._encode, jnp.float32), 'decode': (self._decode, jnp.int32)}[what]
    return fn.lower(self._state, jax.ShapeDtypeStruct(shape, dtype)).compile()

  @property
  def model(self) -> CosmosDV:
    """The network (a new module object over the tokenizer's parameters)."""
    return nnx.merge(self._graphdef, self._state)

  @property
  def codebook_size(self) -> int:
    return self.config.codebook_size

  @property
  def temporal_compression(self) -> int:
    return self.config.temporal_compression

  @property
  def spatial_compression(self) -> int:
    return self.config.spatial_compression

  def _video(self, video) -> tuple[np.ndarray, bool]:
    """float32 [B, T, H, W, C] in [-1, 1], and whether the input was unbatched."""
    video = np.asarray(video)
    unbatched = video.ndim == 4
    c = self.config.in_channels
    if video.ndim not in (4, 5) or video.shape[-1] != c:
      raise ValueError(f'video must be [B, T, H, W, {c}] or [T, H, W, {c}], got {video.shape}')
    if video.dtype == np.uint8:
      video = video / 255.0 * 2.0 - 1.0  # in float64, as Lumos does, then cast
    elif not np.issubdtype(video.dtype, np.floating):
      raise TypeError(f'video must be uint8 or float in [-1, 1], got dtype {video.dtype}')
    video = video[None] if unbatched else video
    s = self.spatial_compression
    if video.shape[1] < 1 or video.shape[2] % s or video.shape[3] % s or not video.shape[2]:
      raise ValueError(
          f'need at least one frame and a frame size that is a positive multiple of {s}, got '
          f'{video.shape[1:4]} (T, H, W)'
      )
    return video.astype(np.float32), unbatched

  def _sharded_encode(self, mesh: jax.sharding.Mesh):
    """`encode` jitted with the batch split over the mesh's ('data', 'fsdp') devices and the
    weights replicated (one compilation per mesh and shape)."""
    if mesh not in self._sharded:
      replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
      batch = parallel.batch_sharding(mesh, ndim=5)
      self._sharded[mesh] = jax.jit(
          self._encode_fn,
          in_shardings=(replicated, batch),
          out_shardings=(parallel.batch_sharding(mesh, 4), batch),
      )
    return self._sharded[mesh]

  def encode_with_latent(
      self, video, mesh: jax.sharding.Mesh | None = None
  ) -> tuple[np.ndarray, np.ndarray]:
    """Like `encode`, also returning the float32 FSQ input [B, t, h, w, embedding_dim]."""
    x, unbatched = self._video(video)
    if mesh is None:
      indices, latent = jax.device_get(self._encode(self._state, x))
    else:  # pad the batch to a multiple of the data-parallel devices, drop the padding after
      shards = mesh.shape['data'] * mesh.shape['fsdp']
      n = len(x)
      x = np.concatenate([x, np.zeros((-n % shards, *x.shape[1:]), x.dtype)])
      with jax.set_mesh(mesh):
        indices, latent = jax.device_get(self._sharded_encode(mesh)(self._state, x))
      indices, latent = indices[:n], latent[:n]
    return (indices[0], latent[0]) if unbatched else (indices, latent)

  def encode(self, video, mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
    """uint8 [B, T, H, W, 3] (or float in [-1, 1]; or unbatched) -> int32 [B, t, h, w].

    Any T >= 1; H and W must be multiples of `spatial_compression`. With a `mesh`, the clips of
    the batch are encoded in parallel over its ('data', 'fsdp') devices (pre-tokenization).
    """
    return self.encode_with_latent(video, mesh)[0]

  def _run_decode(self, codes) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(codes)
    unbatched = codes.ndim == 3
    if codes.ndim not in (3, 4) or not np.issubdtype(codes.dtype, np.integer):
      raise ValueError(
          f'codes must be int [B, t, h, w] or [t, h, w], got {codes.dtype} {codes.shape}'
      )
    if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
      raise ValueError(
          f'codes must lie in [0, {self.codebook_size}), got [{codes.min()}, {codes.max()}]'
      )
    codes = codes[None] if unbatched else codes
    raw, pixels = jax.device_get(self._decode(self._state, codes.astype(np.int32)))
    return (raw[0], pixels[0]) if unbatched else (raw, pixels)

  def decode_float(self, codes) -> np.ndarray:
    """int codes [B, t, h, w] (or unbatched) -> raw float32 decoder output [B, T', H, W, 3].

    T' = temporal_compression * (t - 1) + 1; values are not clamped (about [-1, 1] for real
    weights).
    """
    return self._run_decode(codes)[0]

  def decode(self, codes) -> np.ndarray:
    """int codes [B, t, h, w] (or unbatched [t, h, w]) -> uint8 RGB [B, T', H, W, 3]."""
    return self._run_decode(codes)[1]
