# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Fixed-size KV cache with per-row lengths.

The cache is a pytree that goes into the model and comes back out. Keys/values of all layers are
stacked ([layers, B, C, K, D], matching the scanned layer stack) and left-aligned: slot s holds
absolute position s. `lengths[b]` is the number of committed positions of row b; a call on a
chunk writes the chunk's K/V at slots [lengths, lengths + chunk) of each row and leaves `lengths`
unchanged, so the next call overwrites them (a MaskGIT step) unless the caller commits with
`advance` (a finished frame). Slots past a query's span are never visible, so stale entries need
no clearing.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from lumos_jax import parallel
from lumos_jax.model.config import ModelConfig

CACHE_AXES = ('layers', 'cache_batch', 'cache_length', 'cache_kv_heads', 'head_dim')


@flax.struct.dataclass
class KVCache:
  k: jax.Array  # [layers, B, C, K, D], rotated keys
  v: jax.Array  # [layers, B, C, K, D]
  lengths: jax.Array  # int32 [B]

  @property
  def size(self) -> int:
    return self.k.shape[2]

  def advance(self, n: jax.Array | int) -> 'KVCache':
    """Commits n more positions per row (scalar or [B])."""
    return self.replace(lengths=self.lengths + jnp.asarray(n, jnp.int32))

  def with_lengths(self, lengths: jax.Array | int) -> 'KVCache':
    lengths = jnp.broadcast_to(jnp.asarray(lengths, jnp.int32), self.lengths.shape)
    return self.replace(lengths=lengths)


def init_cache(config: ModelConfig, batch: int, size: int, dtype=None) -> KVCache:
  """An empty cache for `batch` rows of up to `size` positions (dtype: compute dtype)."""
  dtype = config.compute_dtype if dtype is None else dtype
  shape = (config.num_layers, batch, size, config.num_kv_heads, config.head_dim)
  # Two arrays, not one shared: the sampler donates the cache, and a buffer can be donated once.
  k, v = (parallel.constrain(jnp.zeros(shape, dtype), CACHE_AXES) for _ in range(2))
  return KVCache(k=k, v=v, lengths=jnp.zeros((batch,), jnp.int32))


def write(buffer: jax.Array, chunk: jax.Array, offsets: jax.Array) -> jax.Array:
  """Writes chunk [B, Lc, K, D] into one layer's buffer [B, C, K, D] at per-row offsets [B]."""

  def row(buf, x, off):
    return jax.lax.dynamic_update_slice(buf, x.astype(buf.dtype), (off, 0, 0))

  return jax.vmap(row)(buffer, chunk, offsets)
