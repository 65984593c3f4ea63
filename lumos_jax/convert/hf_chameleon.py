# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Loading Chameleon / Lumos-1 checkpoints in the Hugging Face format into a `Decoder`.

The official Lumos-1 checkpoints are saved with `save_pretrained` (spec section 4); transformers'
own `ChameleonForConditionalGeneration` uses the same names. The two differ only in the q/k-norm
parameters: `[model_parallel_size, head_dim]` in the official checkpoints, one row per head in
transformers. Both are loaded as they are: the row count becomes `q_norm_groups` / `k_norm_groups`
(each row serves a block of consecutive heads, as in the official code).

Torch `Linear` weights are `[out, in]`; ours are `[in, ...]` with the heads axis split out, and the
block parameters are stacked on a leading layers axis.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax.numpy as jnp
import numpy as np
from flax import nnx

from lumos_jax.model.config import ModelConfig
from lumos_jax.model.decoder import Decoder
from lumos_jax.model.init import create_model

_IGNORED_PREFIXES = ('model.vqmodel.',)  # Chameleon's image VQGAN, not part of the decoder.


def _field_error(field: str, value: Any, msg: str) -> ValueError:
  return ValueError(f'HF config {field}={value!r}: {msg}')


def model_config_from_hf(config_dict: Mapping[str, Any], **overrides: Any) -> ModelConfig:
  """Our `ModelConfig` from a HF Chameleon config (`config.json` / `ChameleonConfig.to_dict()`).

  `mm_rope: true` (Lumos-1) selects rope_variant 'mm', anything else plain '1d' RoPE.
  q/k-norm groups default to 1 (`load_hf_chameleon` reads them from the weights). `overrides`
  replace any `ModelConfig` field. Raises ValueError naming the field for unsupported settings.
  """
  c = dict(config_dict)
  required = (
      'vocab_size',
      'hidden_size',
      'num_hidden_layers',
      'num_attention_heads',
      'intermediate_size',
  )
  missing = [field for field in required if c.get(field) is None]
  if missing:
    raise ValueError(f'HF config lacks required fields {missing}')
  unsupported = {
      'hidden_act': (c.get('hidden_act', 'silu'), 'silu'),
      'swin_norm': (bool(c.get('swin_norm')), False),
      'tie_word_embeddings': (bool(c.get('tie_word_embeddings')), False),
  }
  for field, (value, expected) in unsupported.items():
    if value != expected:
      raise _field_error(field, c.get(field), f'only {expected!r} is supported')

  rope_parameters = dict(c.get('rope_parameters') or {})  # transformers v5
  rope_scaling = c.get('rope_scaling')  # transformers v4
  for field, params in (('rope_parameters', rope_parameters), ('rope_scaling', rope_scaling or {})):
    rope_type = params.get('rope_type', params.get('type', 'default'))
    if rope_type != 'default':
      raise _field_error(field, c.get(field), 'only the default (unscaled) RoPE is supported')
  rope_theta = rope_parameters.get('rope_theta', c.get('rope_theta', 10000.0))

  hidden, heads = c['hidden_size'], c['num_attention_heads']
  if hidden % heads:
    raise _field_error('hidden_size', hidden, f'not divisible by num_attention_heads={heads}')
  kv_heads = c.get('num_key_value_heads') or heads
  fields = dict(
      vocab_size=c['vocab_size'],
      embed_dim=hidden,
      num_layers=c['num_hidden_layers'],
      num_heads=heads,
      num_kv_heads=kv_heads,
      head_dim=hidden // heads,
      mlp_dim=c['intermediate_size'],
      rope_theta=float(rope_theta),
      rope_variant='mm' if c.get('mm_rope') else '1d',
      rms_norm_eps=float(c.get('rms_norm_eps', 1e-5)),
      attention_bias=bool(c.get('attention_bias')),
      mlp_bias=bool(c.get('mlp_bias')),
  )
  return ModelConfig.from_dict({**fields, **overrides})


def _to_numpy(x: Any) -> np.ndarray:
  if hasattr(x, 'detach'):  # torch: go through float32, numpy has no bfloat16
    x = x.detach().cpu().float().numpy()
  return np.asarray(x)


@dataclasses.dataclass(frozen=True)
class _Param:
  """One HF tensor: its shape and the map to our layout."""

  path: tuple[str, ...]  # our state path (below 'layers' for block parameters)
  shape: tuple[int, ...]
  convert: Callable[[np.ndarray], np.ndarray] = lambda w: w


def _layer_params(c: ModelConfig) -> dict[str, _Param]:
  """HF names below `model.layers.{i}.` of one block."""
  e, n, k, d, f = c.embed_dim, c.num_heads, c.num_kv_heads, c.head_dim, c.mlp_dim

  def attn(name: str) -> tuple[str, str]:
    return ('attention', name)

  def split_out(heads: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda w: w.T.reshape(e, heads, d)  # [H*D, E] -> [E, H, D]

  def o_kernel(w: np.ndarray) -> np.ndarray:
    return w.T.reshape(n, d, e)  # [E, N*D] -> [N, D, E]

  out = {
      'self_attn.q_proj.weight': _Param(attn('q_kernel'), (n * d, e), split_out(n)),
      'self_attn.k_proj.weight': _Param(attn('k_kernel'), (k * d, e), split_out(k)),
      'self_attn.v_proj.weight': _Param(attn('v_kernel'), (k * d, e), split_out(k)),
      'self_attn.o_proj.weight': _Param(attn('o_kernel'), (e, n * d), o_kernel),
      'self_attn.q_norm.weight': _Param(attn('q_norm_scale'), (c.q_norm_groups, d)),
      'self_attn.q_norm.bias': _Param(attn('q_norm_bias'), (c.q_norm_groups, d)),
      'self_attn.k_norm.weight': _Param(attn('k_norm_scale'), (c.k_norm_groups, d)),
      'self_attn.k_norm.bias': _Param(attn('k_norm_bias'), (c.k_norm_groups, d)),
      'mlp.gate_proj.weight': _Param(('mlp', 'gate_kernel'), (f, e), np.transpose),
      'mlp.up_proj.weight': _Param(('mlp', 'up_kernel'), (f, e), np.transpose),
      'mlp.down_proj.weight': _Param(('mlp', 'down_kernel'), (e, f), np.transpose),
      'input_layernorm.weight': _Param(('input_norm', 'scale'), (e,)),
      'post_attention_layernorm.weight': _Param(('post_attention_norm', 'scale'), (e,)),
  }
  if c.attention_bias:
    for name, heads in (('q', n), ('k', k), ('v', k)):
      out[f'self_attn.{name}_proj.bias'] = _Param(
          attn(f'{name}_bias'), (heads * d,), lambda w, h=heads: w.reshape(h, d)
      )
    out['self_attn.o_proj.bias'] = _Param(attn('o_bias'), (e,))
  if c.mlp_bias:
    for name, size in (('gate', f), ('up', f), ('down', e)):
      out[f'mlp.{name}_proj.bias'] = _Param(('mlp', f'{name}_bias'), (size,))
  return out


def _norm_groups(state_dict: Mapping[str, Any], config: ModelConfig) -> dict[str, int]:
  """q/k-norm groups from the row count of layer 0's q/k-norm weights (1 where absent)."""
  groups = {}
  for name, heads, field in (
      ('q', config.num_heads, 'num_attention_heads'),
      ('k', config.num_kv_heads, 'num_key_value_heads'),
  ):
    key = f'model.layers.0.self_attn.{name}_norm.weight'
    if key not in state_dict:
      continue  # reported as missing later
    shape = tuple(state_dict[key].shape)
    if len(shape) != 2 or not shape[0] or heads % shape[0]:
      raise ValueError(
          f'{key}: expected [rows, head_dim] with rows dividing {field}={heads}, found {shape}'
      )
    groups[f'{name}_norm_groups'] = shape[0]
  return groups


def load_hf_chameleon(
    state_dict: Mapping[str, Any],
    config_dict: Mapping[str, Any],
    *,
    dtype: str = 'float32',
    param_dtype: str = 'float32',
    **config_overrides: Any,
) -> tuple[Decoder, ModelConfig]:
  """A `Decoder` holding the weights of a HF-format Chameleon / Lumos-1 checkpoint.

  Args:
    state_dict: HF parameter name -> numpy array or torch tensor (any float dtype, bf16 included).
      Keys under `model.vqmodel.` (Chameleon's image VQGAN) are ignored.
    config_dict: the HF config (see `model_config_from_hf`).
    dtype, param_dtype: compute and storage dtypes of the model.
    **config_overrides: other `ModelConfig` fields, e.g. `rope_variant='1d'`.

  Returns:
    (model, config). q/k-norm groups are the row counts of layer 0's q/k-norm weights (unless
    overridden); every layer must have the same.

  Raises:
    ValueError naming every missing or unknown key and every shape mismatch (expected vs found).
  """
  config = model_config_from_hf(
      config_dict, dtype=dtype, param_dtype=param_dtype, **config_overrides
  )
  groups = _norm_groups(state_dict, config)
  config = dataclasses.replace(
      config, **{k: v for k, v in groups.items() if k not in config_overrides}
  )

  top = {
      'model.embed_tokens.weight': _Param(('embedding',), (config.vocab_size, config.embed_dim)),
      'model.norm.weight': _Param(('final_norm', 'scale'), (config.embed_dim,)),
      'lm_head.weight': _Param(('lm_head',), (config.vocab_size, config.embed_dim), np.transpose),
  }
  layer = _layer_params(config)
  expected = dict(top)
  for i in range(config.num_layers):
    expected.update({f'model.layers.{i}.{name}': p for name, p in layer.items()})

  given = {k for k in state_dict if not k.startswith(_IGNORED_PREFIXES)}
  problems = [f'missing key {k}' for k in sorted(set(expected) - given)]
  problems += [f'unknown key {k}' for k in sorted(given - set(expected))]
  for key in sorted(given & set(expected)):
    found = tuple(state_dict[key].shape)
    if found != expected[key].shape:
      problems.append(f'{key}: expected shape {expected[key].shape}, found {found}')
  if problems:
    raise ValueError('checkpoint does not match the HF config:\n  ' + '\n  '.join(problems))

  def load(key: str) -> np.ndarray:
    return expected[key].convert(_to_numpy(state_dict[key])).astype(config.weight_dtype)

  values = {p.path: load(key) for key, p in top.items()}
  for name, p in layer.items():
    stacked = [load(f'model.layers.{i}.{name}') for i in range(config.num_layers)]
    values[('layers', *p.path)] = np.stack(stacked)

  graphdef, state = nnx.split(nnx.eval_shape(lambda: create_model(config)))
  flat = list(nnx.to_flat_state(state))
  unfilled = sorted(set(path for path, _ in flat) ^ set(values))
  if unfilled:  # the Decoder's parameters changed without this converter
    raise RuntimeError(f'converter and Decoder parameters disagree on {unfilled}')
  state = nnx.from_flat_state(
      [(path, var.replace(jnp.asarray(values[path]))) for path, var in flat]
  )
  return nnx.merge(graphdef, state), config
