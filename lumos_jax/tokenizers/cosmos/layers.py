# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Causal 3-D building blocks of the Cosmos factorised ResNet (COSMOS_DV.md section 2).

Activations are channels-last [B, T, H, W, C]. Every module keeps the official attribute names,
so that a parameter's NNX path spells its official state_dict name (see `model.py`); each module
with parameters lists in `TORCH_NAMES` which official suffix each parameter takes.

Parameters are stored in the compute `dtype` (float32 for parity, bfloat16 as Lumos runs it).
Normalisation statistics and softmax run in float32 whatever the dtype.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

_NORM_EPS = 1e-6


def _uniform(rngs: nnx.Rngs | None, shape: tuple[int, ...], fan_in: int, dtype) -> nnx.Param:
  """torch's default conv init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); zeros without `rngs`.

  Zeros serve models whose weights are loaded next: tracing the random init of every parameter
  (under `nnx.eval_shape`) costs seconds.
  """
  if rngs is None:
    return nnx.Param(jnp.zeros(shape, dtype))
  bound = 1.0 / math.sqrt(fan_in)
  value = jax.random.uniform(rngs.params(), shape, jnp.float32, -bound, bound)
  return nnx.Param(value.astype(dtype))


def _pad_first_frame(x: jax.Array, copies: int) -> jax.Array:
  """Prepends `copies` copies of frame 0 along T (causal replicate padding)."""
  if copies <= 0:
    return x
  return jnp.concatenate([jnp.repeat(x[:, :1], copies, axis=1), x], axis=1)


class CausalConv3d(nnx.Module):
  """Conv with causal time padding (`CausalConv3d`, section 2.1).

  `time_pad = (kt - 1) + (1 - time_stride)` copies of the first frame are prepended; H and W get
  `padding` zeros on both sides. Kernel layout [kt, kh, kw, I, O] (torch's [O, I, kt, kh, kw]
  transposed). The factorised kernels run as 2-D convs: (1, kh, kw) with T folded into the
  batch, (kt, 1, 1) with H*W folded into one spatial axis.
  """

  TORCH_NAMES = {'kernel': 'conv3d.weight', 'bias': 'conv3d.bias'}

  def __init__(
      self,
      c_in: int,
      c_out: int,
      kernel: tuple[int, int, int],
      *,
      stride: int = 1,
      time_stride: int = 1,
      padding: int = 0,
      dtype=jnp.float32,
      rngs: nnx.Rngs | None,
  ):
    self.kernel_size = tuple(kernel)
    self.stride = stride
    self.time_stride = time_stride
    self.padding = padding
    fan_in = c_in * math.prod(kernel)
    self.kernel = _uniform(rngs, (*kernel, c_in, c_out), fan_in, dtype)
    self.bias = _uniform(rngs, (c_out,), fan_in, dtype)

  def __call__(self, x: jax.Array) -> jax.Array:
    """[B, T, H, W, I] -> [B, T', H', W', O]."""
    kt, kh, kw = self.kernel_size
    kernel = self.kernel[...]
    x = _pad_first_frame(x, (kt - 1) + (1 - self.time_stride)).astype(kernel.dtype)
    b, t, h, w, c = x.shape
    p = self.padding
    if kt == 1 and self.time_stride == 1:
      y = jax.lax.conv_general_dilated(
          x.reshape(b * t, h, w, c),
          kernel[0],
          window_strides=(self.stride, self.stride),
          padding=((p, p), (p, p)),
          dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      )
      y = y.reshape(b, t, *y.shape[1:])
    elif kh == kw == 1 and p == 0 and self.stride == 1:
      y = jax.lax.conv_general_dilated(
          x.reshape(b, t, h * w, c),
          kernel[:, 0],
          window_strides=(self.time_stride, 1),
          padding='VALID',
          dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
      )
      y = y.reshape(b, y.shape[1], h, w, -1)
    else:
      y = jax.lax.conv_general_dilated(
          x,
          kernel,
          window_strides=(self.time_stride, self.stride, self.stride),
          padding=((0, 0), (p, p), (p, p)),
          dimension_numbers=('NDHWC', 'DHWIO', 'NDHWC'),
      )
    return y + self.bias[...]


class CausalNorm(nnx.Module):
  """GroupNorm with one group applied per frame (`CausalNormalize`, section 2.2).

  Statistics over (H, W, C) for each (b, t) in float32, eps 1e-6, then a per-channel affine.
  """

  TORCH_NAMES = {'scale': 'norm.weight', 'bias': 'norm.bias'}

  def __init__(self, channels: int, *, dtype=jnp.float32):
    self.scale = nnx.Param(jnp.ones((channels,), dtype))
    self.bias = nnx.Param(jnp.zeros((channels,), dtype))

  def __call__(self, x: jax.Array) -> jax.Array:
    """[B, T, H, W, C] -> same shape and dtype."""
    x32 = x.astype(jnp.float32)
    mean = jnp.mean(x32, axis=(2, 3, 4), keepdims=True)
    var = jnp.mean(jnp.square(x32 - mean), axis=(2, 3, 4), keepdims=True)
    y = (x32 - mean) * jax.lax.rsqrt(var + _NORM_EPS)
    y = y * self.scale[...].astype(jnp.float32) + self.bias[...].astype(jnp.float32)
    return y.astype(x.dtype)


def factorized_conv(c_in: int, c_out: int, *, dtype, rngs: nnx.Rngs | None) -> nnx.List:
  """[(1,3,3) pad 1: c_in -> c_out, causal (3,1,1): c_out -> c_out] (an official Sequential)."""
  return nnx.List(
      [
          CausalConv3d(c_in, c_out, (1, 3, 3), padding=1, dtype=dtype, rngs=rngs),
          CausalConv3d(c_out, c_out, (3, 1, 1), dtype=dtype, rngs=rngs),
      ]
  )


def run(sequential: nnx.List, x: jax.Array) -> jax.Array:
  for layer in sequential:
    x = layer(x)
  return x


class ResnetBlock(nnx.Module):
  """`CausalResnetBlockFactorized3d` (section 2.4).

  h = conv1(silu(norm1(x))), h = conv2(silu(norm2(h))), out = shortcut(x) + h; conv1 and conv2
  are factorised pairs, the shortcut a 1x1x1 conv when the width changes.
  """

  def __init__(self, c_in: int, c_out: int, *, dtype, rngs: nnx.Rngs | None):
    self.norm1 = CausalNorm(c_in, dtype=dtype)
    self.conv1 = factorized_conv(c_in, c_out, dtype=dtype, rngs=rngs)
    self.norm2 = CausalNorm(c_out, dtype=dtype)
    self.conv2 = factorized_conv(c_out, c_out, dtype=dtype, rngs=rngs)
    self.nin_shortcut = (
        CausalConv3d(c_in, c_out, (1, 1, 1), dtype=dtype, rngs=rngs) if c_in != c_out else None
    )

  def __call__(self, x: jax.Array) -> jax.Array:
    h = run(self.conv1, jax.nn.silu(self.norm1(x)))
    h = run(self.conv2, jax.nn.silu(self.norm2(h)))
    return (x if self.nin_shortcut is None else self.nin_shortcut(x)) + h


class _Attention(nnx.Module):
  """Single-head attention with width C and 1x1x1-conv projections; see the two subclasses."""

  def __init__(self, channels: int, *, dtype, rngs: nnx.Rngs | None):
    self.norm = CausalNorm(channels, dtype=dtype)
    self.q, self.k, self.v, self.proj_out = (
        CausalConv3d(channels, channels, (1, 1, 1), dtype=dtype, rngs=rngs) for _ in range(4)
    )

  def _attend(self, q: jax.Array, k: jax.Array, v: jax.Array, causal: bool) -> jax.Array:
    """q, k, v [..., N, C] -> [..., N, C]; scores and softmax in float32."""
    scores = jnp.einsum('...qc,...kc->...qk', q, k, preferred_element_type=jnp.float32)
    scores = scores * (q.shape[-1] ** -0.5)
    if causal:
      n = q.shape[-2]
      row = jax.lax.broadcasted_iota(jnp.int32, (n, n), 0)
      col = jax.lax.broadcasted_iota(jnp.int32, (n, n), 1)
      scores = jnp.where(col <= row, scores, -jnp.inf)  # the diagonal keeps every row finite
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    return jnp.einsum('...qk,...kc->...qc', probs, v)


class SpatialAttention(_Attention):
  """`CausalAttnBlock` (section 2.5): each frame attends over its H*W positions, no mask."""

  def __call__(self, x: jax.Array) -> jax.Array:
    b, t, h, w, c = x.shape
    y = self.norm(x)
    q, k, v = (m(y).reshape(b, t, h * w, c) for m in (self.q, self.k, self.v))
    out = self._attend(q, k, v, causal=False).reshape(b, t, h, w, c)
    return x + self.proj_out(out)


class TemporalAttention(_Attention):
  """`CausalTemporalAttnBlock` (section 2.6): each (b, h, w) attends over frames j <= i."""

  def __call__(self, x: jax.Array) -> jax.Array:
    y = self.norm(x)
    q, k, v = (jnp.moveaxis(m(y), 1, 3) for m in (self.q, self.k, self.v))  # [B, H, W, T, C]
    out = jnp.moveaxis(self._attend(q, k, v, causal=True), 3, 1)
    return x + self.proj_out(out)


def _avg_pool(x: jax.Array, axis: int) -> jax.Array:
  """Mean of non-overlapping pairs along `axis` (floor: a trailing odd element is dropped)."""
  n = x.shape[axis] // 2
  x = jax.lax.slice_in_dim(x, 0, 2 * n, axis=axis)
  x = x.reshape(x.shape[:axis] + (n, 2) + x.shape[axis + 1 :]).astype(jnp.float32)
  return jnp.mean(x, axis=axis + 1)


class Downsample(nnx.Module):
  """`CausalHybridDownsample3d` (section 2.7); only the convs the flags call are created.

  Spatial: zero-pad 1 at the end of H and W, conv1 (1,3,3) stride 2 + 2x2 average pool.
  Temporal: prepend frame 0, conv2 (3,1,1) time-stride 2 + 2-frame average pool. Then conv3.
  """

  def __init__(self, channels: int, spatial: bool, temporal: bool, *, dtype, rngs: nnx.Rngs | None):
    self.spatial, self.temporal = spatial, temporal
    conv = functools.partial(CausalConv3d, channels, channels, dtype=dtype, rngs=rngs)
    self.conv1 = conv((1, 3, 3), stride=2) if spatial else None
    self.conv2 = conv((3, 1, 1), time_stride=2) if temporal else None
    self.conv3 = conv((1, 1, 1)) if spatial or temporal else None

  def __call__(self, x: jax.Array) -> jax.Array:
    if not (self.spatial or self.temporal):
      return x
    if self.spatial:
      h, w = x.shape[2:4]
      if h % 2 or w % 2:
        # The official conv and pool then disagree in size and torch raises.
        raise ValueError(f'spatial downsampling needs even H and W, got {h}x{w} ({x.shape})')
      x = jnp.pad(x, ((0, 0), (0, 0), (0, 1), (0, 1), (0, 0)))
      x = self.conv1(x) + _avg_pool(_avg_pool(x, 2), 3).astype(x.dtype)
    if self.temporal:
      x = _pad_first_frame(x, 1)
      x = self.conv2(x) + _avg_pool(x, 1).astype(x.dtype)
    return self.conv3(x)


class Upsample(nnx.Module):
  """`CausalHybridUpsample3d` (section 2.8); only the convs the flags call are created.

  Temporal: T -> 2T - 1 (each frame twice, first dropped; T = 1 stays), x = conv1(x) + x.
  Spatial: nearest x2 in H and W, x = conv2(x) + x. Then conv3.
  """

  def __init__(self, channels: int, spatial: bool, temporal: bool, *, dtype, rngs: nnx.Rngs | None):
    self.spatial, self.temporal = spatial, temporal
    conv = functools.partial(CausalConv3d, channels, channels, dtype=dtype, rngs=rngs)
    self.conv1 = conv((3, 1, 1)) if temporal else None
    self.conv2 = conv((1, 3, 3), padding=1) if spatial else None
    self.conv3 = conv((1, 1, 1)) if spatial or temporal else None

  def __call__(self, x: jax.Array) -> jax.Array:
    if not (self.spatial or self.temporal):
      return x
    if self.temporal:
      if x.shape[1] > 1:
        x = jnp.repeat(x, 2, axis=1)[:, 1:]
      x = self.conv1(x) + x
    if self.spatial:
      x = jnp.repeat(jnp.repeat(x, 2, axis=2), 2, axis=3)
      x = self.conv2(x) + x
    return self.conv3(x)
