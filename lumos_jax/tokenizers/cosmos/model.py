# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The Cosmos DV network (`CausalDiscreteVideoTokenizer`, COSMOS_DV.md section 4) in Flax NNX.

Channels-last throughout: videos [B, T, H, W, 3] in [-1, 1], latents [B, t, h, w, 6]. The module
tree mirrors the official one (`encoder.down.{i}.block.{j}.conv1.0`, ...), so the NNX path of a
module joined with '.' is its official prefix; `load_state_dict` and `to_state_dict` convert
between a flat dict of official names -> torch-layout arrays and the model.

Every forward method takes an optional `acts` dict that collects the outputs of the official
modules by name (channels-last), for layer-by-layer comparisons.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lumos_jax.tokenizers.cosmos import fsq, patching
from lumos_jax.tokenizers.cosmos import state_dict as state_dict_lib
from lumos_jax.tokenizers.cosmos.config import CosmosConfig
from lumos_jax.tokenizers.cosmos.layers import (
    CausalConv3d,
    CausalNorm,
    Downsample,
    ResnetBlock,
    SpatialAttention,
    TemporalAttention,
    Upsample,
    factorized_conv,
    run,
)

Acts = dict[str, jax.Array] | None


def _record(acts: Acts, name: str, x: jax.Array) -> None:
  if acts is not None:
    acts[name] = x


class Mid(nnx.Module):
  """ResNet block, spatial attention, causal temporal attention, ResNet block (section 4)."""

  def __init__(self, channels: int, *, dtype, rngs: nnx.Rngs | None):
    self.block_1 = ResnetBlock(channels, channels, dtype=dtype, rngs=rngs)
    self.attn_1 = nnx.List(
        [
            SpatialAttention(channels, dtype=dtype, rngs=rngs),
            TemporalAttention(channels, dtype=dtype, rngs=rngs),
        ]
    )
    self.block_2 = ResnetBlock(channels, channels, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array, acts: Acts, prefix: str) -> jax.Array:
    x = self.block_1(x)
    _record(acts, f'{prefix}.block_1', x)
    for i, attn in enumerate(self.attn_1):
      x = attn(x)
      _record(acts, f'{prefix}.attn_1.{i}', x)
    x = self.block_2(x)
    _record(acts, f'{prefix}.block_2', x)
    return x


class DownLevel(nnx.Module):
  """`encoder.down.{i}`: ResNet blocks then (except at the last level) a down-sampler."""

  def __init__(self, blocks: list[ResnetBlock], downsample: Downsample | None):
    self.block = nnx.List(blocks)
    self.downsample = downsample


class UpLevel(nnx.Module):
  """`decoder.up.{i}`: ResNet blocks then (except at level 0) an up-sampler."""

  def __init__(self, blocks: list[ResnetBlock], upsample: Upsample | None):
    self.block = nnx.List(blocks)
    self.upsample = upsample


class Encoder(nnx.Module):
  """`EncoderFactorized`: Haar patcher, factorised ResNet, mid block, norm, conv to z_channels."""

  def __init__(self, config: CosmosConfig, *, dtype, rngs: nnx.Rngs | None):
    self.patch_size = config.patch_size
    ch = config.channels
    self.conv_in = factorized_conv(config.patched_channels, ch, dtype=dtype, rngs=rngs)
    levels, block_in = [], ch
    for i, mult in enumerate(config.channels_mult):
      blocks = []
      for _ in range(config.num_res_blocks):
        blocks.append(ResnetBlock(block_in, ch * mult, dtype=dtype, rngs=rngs))
        block_in = ch * mult
      flags = config.down_flags(i)
      down = None if flags is None else Downsample(block_in, *flags, dtype=dtype, rngs=rngs)
      levels.append(DownLevel(blocks, down))
    self.down = nnx.List(levels)
    self.mid = Mid(block_in, dtype=dtype, rngs=rngs)
    self.norm_out = CausalNorm(block_in, dtype=dtype)
    self.conv_out = factorized_conv(block_in, config.z_channels, dtype=dtype, rngs=rngs)

  def __call__(self, video: jax.Array, acts: Acts = None) -> jax.Array:
    """Video [B, T, H, W, C] in [-1, 1] -> z [B, t, h, w, z_channels] in the compute dtype."""
    dtype = self.conv_in[0].kernel.dtype
    # Lumos casts the pixels to the tokenizer dtype before the Haar step; the Haar sums are then
    # exact in float32.
    x = patching.patchify(video.astype(dtype).astype(jnp.float32), self.patch_size).astype(dtype)
    _record(acts, 'encoder.patcher3d', x)
    x = run(self.conv_in, x)
    _record(acts, 'encoder.conv_in', x)
    for i, level in enumerate(self.down):
      for j, block in enumerate(level.block):
        x = block(x)
        _record(acts, f'encoder.down.{i}.block.{j}', x)
      if level.downsample is not None:
        x = level.downsample(x)
        _record(acts, f'encoder.down.{i}.downsample', x)
    x = self.mid(x, acts, 'encoder.mid')
    x = run(self.conv_out, jax.nn.silu(self.norm_out(x)))
    _record(acts, 'encoder', x)
    return x


class Decoder(nnx.Module):
  """`DecoderFactorized`: conv from z_channels, mid block, ResNet levels run from the coarsest,
  norm, conv to the Haar channels, inverse Haar."""

  def __init__(self, config: CosmosConfig, *, dtype, rngs: nnx.Rngs | None):
    self.patch_size = config.patch_size
    ch, mult = config.channels, config.channels_mult
    block_in = ch * mult[-1]
    self.conv_in = factorized_conv(config.z_channels, block_in, dtype=dtype, rngs=rngs)
    self.mid = Mid(block_in, dtype=dtype, rngs=rngs)
    levels: dict[int, UpLevel] = {}
    for i in reversed(range(config.num_levels)):
      blocks = []
      for _ in range(config.num_res_blocks + 1):
        blocks.append(ResnetBlock(block_in, ch * mult[i], dtype=dtype, rngs=rngs))
        block_in = ch * mult[i]
      flags = config.up_flags(i)
      up = None if flags is None else Upsample(block_in, *flags, dtype=dtype, rngs=rngs)
      levels[i] = UpLevel(blocks, up)
    # Stored in resolution order (`decoder.up.0` is the finest), run from the last.
    self.up = nnx.List([levels[i] for i in range(config.num_levels)])
    self.norm_out = CausalNorm(block_in, dtype=dtype)
    out = config.out_channels * config.patch_size**3
    self.conv_out = factorized_conv(block_in, out, dtype=dtype, rngs=rngs)

  def __call__(self, z: jax.Array, acts: Acts = None) -> jax.Array:
    """z [B, t, h, w, z_channels] -> float32 video [B, p*t' - (p-1), H, W, out_channels]."""
    x = run(self.conv_in, z)
    _record(acts, 'decoder.conv_in', x)
    x = self.mid(x, acts, 'decoder.mid')
    for i in reversed(range(len(self.up))):
      level = self.up[i]
      for j, block in enumerate(level.block):
        x = block(x)
        _record(acts, f'decoder.up.{i}.block.{j}', x)
      if level.upsample is not None:
        x = level.upsample(x)
        _record(acts, f'decoder.up.{i}.upsample', x)
    x = run(self.conv_out, jax.nn.silu(self.norm_out(x)))
    _record(acts, 'decoder.conv_out', x)
    return patching.unpatchify(x.astype(jnp.float32), self.patch_size)


class CosmosDV(nnx.Module):
  """Encoder, `quant_conv`, FSQ, `post_quant_conv`, decoder (`CausalDiscreteVideoTokenizer`).

  Args:
    config: the architecture.
    dtype: compute and parameter dtype: float32 (parity) or bfloat16 (as Lumos runs it). FSQ,
      norm statistics, softmax and the Haar steps run in float32 either way.
    rngs: for the random initialisation (torch's default); None: zeros, for weights loaded
      next (`from_state_dict`).
  """

  def __init__(self, config: CosmosConfig, *, dtype=jnp.float32, rngs: nnx.Rngs | None):
    self.config = config
    self.encoder = Encoder(config, dtype=dtype, rngs=rngs)
    self.quant_conv = CausalConv3d(
        config.z_channels, config.embedding_dim, (1, 1, 1), dtype=dtype, rngs=rngs
    )
    self.post_quant_conv = CausalConv3d(
        config.embedding_dim, config.z_channels, (1, 1, 1), dtype=dtype, rngs=rngs
    )
    self.decoder = Decoder(config, dtype=dtype, rngs=rngs)

  @property
  def dtype(self):
    return self.quant_conv.kernel.dtype

  def encode_latent(self, video: jax.Array, acts: Acts = None) -> jax.Array:
    """Video [B, T, H, W, in_channels] in [-1, 1] -> float32 FSQ input [B, t, h, w, D]."""
    return self.quant_conv(self.encoder(video, acts)).astype(jnp.float32)

  def encode(self, video: jax.Array, acts: Acts = None) -> tuple[jax.Array, jax.Array]:
    """Video [B, T, H, W, in_channels] -> (int32 indices [B, t, h, w], float32 latent)."""
    latent = self.encode_latent(video, acts)
    _, indices = fsq.quantize(latent, self.config.levels)
    return indices, latent

  def decode_codes(self, codes: jax.Array, acts: Acts = None) -> jax.Array:
    """FSQ codes [B, t, h, w, D] -> raw float32 video [B, T', H, W, out_channels]."""
    z = self.post_quant_conv(codes.astype(self.dtype))
    _record(acts, 'post_quant_conv', z)
    return self.decoder(z, acts)

  def decode(self, indices: jax.Array, acts: Acts = None) -> jax.Array:
    """int indices [B, t, h, w] -> raw float32 video [B, T', H, W, out_channels]."""
    return self.decode_codes(fsq.indices_to_codes(indices, self.config.levels), acts)


def _converters(module: nnx.Module):
  """(attribute, official suffix) pairs of a module with parameters."""
  return getattr(type(module), 'TORCH_NAMES', {}).items()


def _torch_to_jax(value: np.ndarray, attr: str) -> np.ndarray:
  """torch conv weight [O, I, kt, kh, kw] -> [kt, kh, kw, I, O]; other tensors unchanged."""
  return np.transpose(value, (2, 3, 4, 1, 0)) if attr == 'kernel' else value


def _parameter_modules(model: CosmosDV):
  for path, module in nnx.iter_modules(model):
    if _converters(module):
      yield '.'.join(str(p) for p in path), module


def torch_shapes(model: CosmosDV) -> dict[str, tuple[int, ...]]:
  """Official name -> torch shape of every parameter the model holds."""
  out = {}
  for prefix, module in _parameter_modules(model):
    for attr, suffix in _converters(module):
      shape = getattr(module, attr).shape
      out[f'{prefix}.{suffix}'] = (*shape[::-1][:2], *shape[:3]) if attr == 'kernel' else shape
  return out


def load_state_dict(model: CosmosDV, flat: Mapping[str, np.ndarray]) -> None:
  """Sets every parameter of `model` from official names -> torch-layout arrays, in place.

  Raises:
    ValueError: from `state_dict.check` when a tensor is missing, unexpected or mis-shaped.
  """
  state_dict_lib.check(model.config, flat)
  dtype = model.dtype
  for prefix, module in _parameter_modules(model):
    for attr, suffix in _converters(module):
      value = _torch_to_jax(np.asarray(flat[f'{prefix}.{suffix}'], np.float32), attr)
      getattr(module, attr).set_value(jnp.asarray(value, dtype))


def to_state_dict(model: CosmosDV) -> dict[str, np.ndarray]:
  """The model's parameters as official names -> float32 torch-layout numpy arrays."""
  out = {}
  for prefix, module in _parameter_modules(model):
    for attr, suffix in _converters(module):
      value = np.asarray(getattr(module, attr)[...], np.float32)
      out[f'{prefix}.{suffix}'] = (
          np.transpose(value, (4, 3, 0, 1, 2)) if attr == 'kernel' else value
      )
  return out


def from_state_dict(
    config: CosmosConfig, flat: Mapping[str, np.ndarray], dtype=jnp.float32
) -> CosmosDV:
  """Builds a model from official weights without running the random initialisation.

  Args:
    config: the architecture; `flat` is checked against it first (strictly).
    flat: official name -> torch-layout array (float32 or bfloat16-valued); the unused sampler
      convs may be present or absent.
    dtype: compute and parameter dtype.
  """
  state_dict_lib.check(config, flat)
  model = nnx.eval_shape(lambda: CosmosDV(config, dtype=dtype, rngs=None))
  load_state_dict(model, flat)
  return model
