# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Official parameter names and torch shapes of a Cosmos DV tokenizer, and a strict check.

Names are those of the official eager `state_dict()` (COSMOS_DV.md section 6, Appendix A), which
equal those of `torch.jit.load(f).state_dict()` for the released `encoder.jit` / `decoder.jit`
without their non-persistent buffers. Conv weights are torch `[O, I, kt, kh, kw]`, norm affine
parameters `[C]`.

The official loader uses `load_state_dict(..., strict=False)`, which silently keeps random
weights for a missing tensor; `check` is the strict replacement. The down/up-sampler convs that
the configured flags never call (16 tensors for DV4x8x8) are neither required nor rejected: the
released files most likely omit them, the eager module has them.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from lumos_jax.tokenizers.cosmos.config import CosmosConfig

Shapes = dict[str, tuple[int, ...]]

# Non-persistent buffers that a TorchScript state_dict holds besides the parameters (section 10);
# importers drop them, `check` rejects them like any other unexpected name.
TORCHSCRIPT_BUFFERS = frozenset(
    {
        'encoder.patcher3d.wavelets',
        'encoder.patcher3d._arange',
        'encoder.patcher3d.patch_size_buffer',
        'quantizer._levels',
        'quantizer._basis',
        'quantizer.implicit_codebook',
        'decoder.unpatcher3d.wavelets',
        'decoder.unpatcher3d._arange',
        'inv_quant.quantizer._levels',
        'inv_quant.quantizer._basis',
        'inv_quant.quantizer.implicit_codebook',
    }
)

_SPATIAL = (1, 3, 3)
_TEMPORAL = (3, 1, 1)
_POINT = (1, 1, 1)


def _conv(out: Shapes, prefix: str, c_out: int, c_in: int, kernel: tuple[int, int, int]) -> None:
  out[f'{prefix}.conv3d.weight'] = (c_out, c_in, *kernel)
  out[f'{prefix}.conv3d.bias'] = (c_out,)


def _norm(out: Shapes, prefix: str, channels: int) -> None:
  out[f'{prefix}.norm.weight'] = (channels,)
  out[f'{prefix}.norm.bias'] = (channels,)


def _factorized(out: Shapes, prefix: str, c_out: int, c_in: int) -> None:
  """A (1,3,3) conv then a causal (3,1,1) conv: `prefix.0`, `prefix.1`."""
  _conv(out, f'{prefix}.0', c_out, c_in, _SPATIAL)
  _conv(out, f'{prefix}.1', c_out, c_out, _TEMPORAL)


def _resnet(out: Shapes, prefix: str, c_in: int, c_out: int) -> None:
  _norm(out, f'{prefix}.norm1', c_in)
  _factorized(out, f'{prefix}.conv1', c_out, c_in)
  _norm(out, f'{prefix}.norm2', c_out)
  _factorized(out, f'{prefix}.conv2', c_out, c_out)
  if c_in != c_out:
    _conv(out, f'{prefix}.nin_shortcut', c_out, c_in, _POINT)


def _attention(out: Shapes, prefix: str, channels: int) -> None:
  _norm(out, f'{prefix}.norm', channels)
  for name in ('q', 'k', 'v', 'proj_out'):
    _conv(out, f'{prefix}.{name}', channels, channels, _POINT)


def _mid(out: Shapes, prefix: str, channels: int) -> None:
  _resnet(out, f'{prefix}.block_1', channels, channels)
  _attention(out, f'{prefix}.attn_1.0', channels)  # spatial
  _attention(out, f'{prefix}.attn_1.1', channels)  # causal temporal
  _resnet(out, f'{prefix}.block_2', channels, channels)


def _sampler(out: Shapes, prefix: str, channels: int, kernels) -> None:
  for i, kernel in enumerate(kernels, start=1):
    _conv(out, f'{prefix}.conv{i}', channels, channels, kernel)


# Kernel of conv1..conv3 of `CausalHybridDownsample3d` / `CausalHybridUpsample3d`.
_DOWN_KERNELS = (_SPATIAL, _TEMPORAL, _POINT)
_UP_KERNELS = (_TEMPORAL, _SPATIAL, _POINT)


def official_shapes(config: CosmosConfig) -> Shapes:
  """Every tensor of the official eager state_dict, in its order (322 for DV), unused included."""
  out: Shapes = {}
  ch, mult = config.channels, config.channels_mult
  block_in = ch
  _factorized(out, 'encoder.conv_in', ch, config.patched_channels)
  for i, m in enumerate(mult):
    for j in range(config.num_res_blocks):
      _resnet(out, f'encoder.down.{i}.block.{j}', block_in, ch * m)
      block_in = ch * m
    if config.down_flags(i) is not None:
      _sampler(out, f'encoder.down.{i}.downsample', block_in, _DOWN_KERNELS)
  _mid(out, 'encoder.mid', block_in)
  _norm(out, 'encoder.norm_out', block_in)
  _factorized(out, 'encoder.conv_out', config.z_channels, block_in)

  block_in = ch * mult[-1]
  _factorized(out, 'decoder.conv_in', block_in, config.z_channels)
  _mid(out, 'decoder.mid', block_in)
  # `decoder.up` is stored in resolution order (up.0 first) but built, and run, from the last.
  up: dict[int, Shapes] = {}
  for i in reversed(range(config.num_levels)):
    up[i] = {}
    for j in range(config.num_res_blocks + 1):
      _resnet(up[i], f'decoder.up.{i}.block.{j}', block_in, ch * mult[i])
      block_in = ch * mult[i]
    if config.up_flags(i) is not None:
      _sampler(up[i], f'decoder.up.{i}.upsample', block_in, _UP_KERNELS)
  for i in range(config.num_levels):
    out.update(up[i])
  _norm(out, 'decoder.norm_out', block_in)
  _factorized(out, 'decoder.conv_out', config.out_channels * config.patch_size**3, block_in)

  _conv(out, 'quant_conv', config.embedding_dim, config.z_channels, _POINT)
  _conv(out, 'post_quant_conv', config.z_channels, config.embedding_dim, _POINT)
  return out


def unused_prefixes(config: CosmosConfig) -> tuple[str, ...]:
  """Module prefixes of the sampler convs that the configured flags never call.

  A down-sampler calls conv1 when spatial, conv2 when temporal, conv3 when either; an
  up-sampler conv1 when temporal, conv2 when spatial, conv3 when either (sections 2.7, 2.8).
  """
  unused = []
  for i in range(config.num_levels):
    for prefix, flags, order in (
        (f'encoder.down.{i}.downsample', config.down_flags(i), (0, 1)),
        (f'decoder.up.{i}.upsample', config.up_flags(i), (1, 0)),
    ):
      if flags is None:
        continue
      used = (flags[order[0]], flags[order[1]], flags[0] or flags[1])
      unused += [f'{prefix}.conv{n}' for n, u in enumerate(used, start=1) if not u]
  return tuple(unused)


def unused_names(config: CosmosConfig) -> tuple[str, ...]:
  """Tensor names (weight and bias) of `unused_prefixes(config)`: 16 for DV4x8x8."""
  return tuple(f'{p}.conv3d.{n}' for p in unused_prefixes(config) for n in ('weight', 'bias'))


def expected_shapes(config: CosmosConfig) -> Shapes:
  """The tensors the model uses: official name -> torch shape, in state_dict order (306 for DV)."""
  unused = set(unused_names(config))
  return {k: v for k, v in official_shapes(config).items() if k not in unused}


UNUSED_PREFIXES = unused_prefixes(CosmosConfig.dv4x8x8())


def random_state_dict(
    config: CosmosConfig, seed: int = 0, include_unused: bool = False
) -> dict[str, np.ndarray]:
  """Random float32 weights under the official names (for tests and runs without a release).

  Convs get torch's default init, U(+-1/sqrt(fan_in)); norms weight 1 + 0.2 N(0, 1) and bias
  0.2 N(0, 1) (not ones/zeros, so that the affine parameters matter), like the fixture. Built in
  numpy: much faster than initialising a model eagerly in JAX.
  """
  rng = np.random.default_rng(seed)
  shapes = official_shapes(config) if include_unused else expected_shapes(config)
  out, fan_in = {}, 1
  for name, shape in shapes.items():
    if name.endswith('.norm.weight'):
      value = 1 + 0.2 * rng.standard_normal(shape)
    elif name.endswith('.norm.bias'):
      value = 0.2 * rng.standard_normal(shape)
    else:  # a conv weight sets the fan-in of the bias that follows it
      fan_in = math.prod(shape[1:]) if len(shape) > 1 else fan_in
      value = rng.uniform(-1, 1, shape) / math.sqrt(fan_in)
    out[name] = value.astype(np.float32)
  return out


def check(config: CosmosConfig, flat: Mapping[str, Any]) -> None:
  """Raises ValueError naming every missing, unexpected or mis-shaped tensor of `flat`.

  Args:
    config: the architecture the tensors must fit.
    flat: official name -> array (anything with a `.shape`), e.g. numpy arrays.

  Raises:
    ValueError: listing the missing names, the unexpected names (the unused sampler convs of
      `unused_names(config)` are allowed, present or absent) and, for mis-shaped tensors, the
      expected and the actual shape.
  """
  expected = expected_shapes(config)
  allowed = set(unused_names(config))
  missing = [k for k in expected if k not in flat]
  unexpected = sorted(k for k in flat if k not in expected and k not in allowed)
  misshaped = [
      f'{k}: expected {expected[k]}, got {tuple(flat[k].shape)}'
      for k in expected
      if k in flat and tuple(flat[k].shape) != expected[k]
  ]
  problems = []
  if missing:
    problems.append(f'{len(missing)} missing: ' + ', '.join(missing))
  if unexpected:
    problems.append(f'{len(unexpected)} unexpected: ' + ', '.join(unexpected))
  if misshaped:
    problems.append(f'{len(misshaped)} mis-shaped: ' + '; '.join(misshaped))
  if problems:
    raise ValueError('Cosmos tokenizer weights do not fit the config: ' + ' | '.join(problems))
