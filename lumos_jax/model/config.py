# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Model hyper-parameters of the Chameleon-style decoder, with validation."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from lumos_jax.model.rope import VARIANTS as ROPE_VARIANTS

REMAT_POLICIES = ('none', 'full', 'dots', 'dots_no_batch')
ATTENTION_IMPLS = ('dense', 'blockwise', 'pallas_gpu', 'splash_tpu', 'cudnn', 'auto')
ATTENTION_MASKS = ('frame_causal', 'causal')
_DTYPES = ('float32', 'bfloat16', 'float16')


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Decoder shape and numerics.

  Attributes:
    vocab_size: rows of the embedding and columns of the (untied) LM head.
    embed_dim: model width (HF `hidden_size`).
    num_layers, num_heads, num_kv_heads, head_dim, mlp_dim: transformer shape (GQA when
      num_kv_heads < num_heads; query head n uses KV head n // (num_heads // num_kv_heads)).
    rope_theta: RoPE base.
    rope_variant: 'mm' (official MM-RoPE), '1d' or '3d_contiguous' (ablations).
    rms_norm_eps: epsilon of the RMSNorms.
    qk_norm_eps: epsilon of the per-head q/k LayerNorm (hard-coded 1e-5 in the official code).
    q_norm_groups, k_norm_groups: rows of the q/k-norm affine parameters; each row serves a block
      of consecutive heads (official: model_parallel_size rows; transformers: one row per head).
    attention_bias, mlp_bias: biases on the attention / MLP projections.
    dtype: compute dtype; param_dtype: storage dtype of the parameters.
    remat_policy: activation checkpointing of each scanned layer: 'none', 'full' (save nothing),
      'dots' (save matmul outputs) or 'dots_no_batch' (save weight matmuls only).
    scan_unroll: decoder layers per iteration of the layer scan (`jax.lax.scan`'s `unroll`);
      num_layers unrolls the stack into straight-line code. Results are the same; on CPU a small
      unrolled stack avoids the loop's per-layer slicing and stacking of activations (the demo
      step is ~1.5x faster), at the price of a compile time that grows with depth.
    attention_impl: attention implementation (see `model.attention.attend`): 'dense' reference,
      'blockwise' XLA, 'pallas_gpu', 'splash_tpu', 'cudnn', or 'auto' (per backend).
    attention_mask: 'frame_causal' (official: bidirectional inside a frame, causal across frames
      and for text) or 'causal' (plain causal, the paper's ablation).
    init_std: standard deviation of the normal initialiser of embeddings and kernels.
  """

  vocab_size: int
  embed_dim: int
  num_layers: int
  num_heads: int
  num_kv_heads: int
  head_dim: int
  mlp_dim: int
  rope_theta: float = 10000.0
  rope_variant: str = 'mm'
  rms_norm_eps: float = 1e-5
  qk_norm_eps: float = 1e-5
  q_norm_groups: int = 1
  k_norm_groups: int = 1
  attention_bias: bool = False
  mlp_bias: bool = False
  dtype: str = 'float32'
  param_dtype: str = 'float32'
  remat_policy: str = 'none'
  scan_unroll: int = 1
  attention_impl: str = 'dense'
  attention_mask: str = 'frame_causal'
  init_std: float = 0.02

  def __post_init__(self):
    self.validate()

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> 'ModelConfig':
    """Builds from a mapping (e.g. an ml_collections ConfigDict), naming unknown keys."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - fields)
    if unknown:
      raise ValueError(
          f'unknown model config keys {unknown}; expected a subset of {sorted(fields)}'
      )
    return cls(**dict(d))

  @property
  def compute_dtype(self) -> jnp.dtype:
    return jnp.dtype(self.dtype)

  @property
  def weight_dtype(self) -> jnp.dtype:
    return jnp.dtype(self.param_dtype)

  @property
  def remat(self):
    """The jax.checkpoint policy, or None for no rematerialisation."""
    return {
        'none': None,
        'full': jax.checkpoint_policies.nothing_saveable,
        'dots': jax.checkpoint_policies.checkpoint_dots,
        'dots_no_batch': jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
    }[self.remat_policy]

  def validate(self) -> None:
    """Raises ValueError naming the offending field."""

    def fail(field: str, msg: str):
      raise ValueError(f'model.{field}={getattr(self, field)!r}: {msg}')

    for field in (
        'vocab_size',
        'embed_dim',
        'num_layers',
        'num_heads',
        'num_kv_heads',
        'head_dim',
        'mlp_dim',
        'q_norm_groups',
        'k_norm_groups',
        'scan_unroll',
    ):
      value = getattr(self, field)
      if not isinstance(value, int) or value <= 0:
        fail(field, 'must be a positive integer')
    if self.num_heads % self.num_kv_heads:
      fail('num_kv_heads', f'must divide num_heads={self.num_heads}')
    if self.num_heads % self.q_norm_groups:
      fail('q_norm_groups', f'must divide num_heads={self.num_heads}')
    if self.num_kv_heads % self.k_norm_groups:
      fail('k_norm_groups', f'must divide num_kv_heads={self.num_kv_heads}')
    if self.rope_variant not in ROPE_VARIANTS:
      fail('rope_variant', f'expected one of {ROPE_VARIANTS}')
    if self.rope_variant != '1d' and self.head_dim % 32:
      fail(
          'head_dim',
          f'must be a multiple of 32 with rope_variant={self.rope_variant!r} '
          '(the 3-D channel allocation works on groups of 16 frequencies)',
      )
    if self.head_dim % 2:
      fail('head_dim', 'must be even for RoPE')
    if self.rope_theta <= 0:
      fail('rope_theta', 'must be positive')
    for field in ('dtype', 'param_dtype'):
      if getattr(self, field) not in _DTYPES:
        fail(field, f'expected one of {_DTYPES}')
    if self.remat_policy not in REMAT_POLICIES:
      fail('remat_policy', f'expected one of {REMAT_POLICIES}')
    if self.attention_impl not in ATTENTION_IMPLS:
      fail('attention_impl', f'expected one of {ATTENTION_IMPLS}')
    if self.attention_mask not in ATTENTION_MASKS:
      fail('attention_mask', f'expected one of {ATTENTION_MASKS}')
    for field in ('rms_norm_eps', 'qk_norm_eps', 'init_std'):
      if getattr(self, field) <= 0:
        fail(field, 'must be positive')
