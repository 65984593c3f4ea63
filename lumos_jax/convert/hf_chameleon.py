# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Loading Chameleon / Lumos-1 checkpoints in the Hugging Face format into a `Decoder`.

The official Lumos-1 checkpoints are saved with `save_pretrained` (spec section 4); transformers'
own `ChameleonForConditionalGeneration` uses the same names. The two differ only in the q/k-norm
parameters: `[model_parallel_size, head_dim]` in the official checkpoints, one row per head in
transformers. Both are loaded as they are: the row count becomes `q_norm_groups` / `k_norm_groups`
(each row serves a block of consecutive heads, as in the official code).

Torch `Linear` weights are `[out, in]`; ours are `[in, ...]` with the heads axis split out, and the
block parameters are stacked on a leading layers axis.

`load_hf_chameleon` converts a state dict held in memory. The pieces it is made of also serve a
checkpoint streamed tensor by tensor (lumos_jax/convert/release.py): `param_map` (HF name ->
`Target`: our path, layer slot, HF shape, layout map), `norm_groups` and `check` (from the
tensors' shapes alone, before any is read) and `ParamAssembler` (fills the stacked arrays one
tensor at a time).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx

from lumos_jax.model.config import ModelConfig
from lumos_jax.model.decoder import Decoder
from lumos_jax.model.init import create_model

_IGNORED_PREFIXES = ('model.vqmodel.',)  # Chameleon's image VQGAN, not part of the decoder
# RoPE tables, saved as buffers by older transformers versions; recomputed here.
_IGNORED_SUFFIXES = ('.rotary_emb.inv_freq',)


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


def to_numpy(x: Any) -> np.ndarray:
  """A numpy array of a numpy array or torch tensor, bf16 kept as bf16 (no float32 copy)."""
  if hasattr(x, 'detach'):  # torch, imported already by whoever made the tensor
    import torch  # pylint: disable=g-import-not-at-top

    x = x.detach().cpu()
    if x.dtype == torch.bfloat16:  # numpy has no bf16: reinterpret the bits as ml_dtypes'
      return x.contiguous().view(torch.int16).numpy().view(jnp.bfloat16)
    return x.numpy()
  return np.asarray(x)


@dataclasses.dataclass(frozen=True)
class Target:
  """Where one HF tensor goes: our parameter path, its slot on the layers axis and the map."""

  path: tuple[str, ...]  # our state path ('layers', ...) for block parameters
  layer: int | None  # index on the stacked layers axis of a block parameter, else None
  shape: tuple[int, ...]  # the HF tensor's shape
  convert: Callable[[np.ndarray], np.ndarray]  # HF layout -> ours (may return a view)


def _layer_params(c: ModelConfig) -> dict[str, tuple[tuple[str, ...], tuple[int, ...], Any]]:
  """HF names below `model.layers.{i}.` of one block -> (our path below 'layers', HF shape,
  map to our layout)."""
  e, n, k, d, f = c.embed_dim, c.num_heads, c.num_kv_heads, c.head_dim, c.mlp_dim

  def attn(name: str) -> tuple[str, str]:
    return ('attention', name)

  def split_out(heads: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda w: w.T.reshape(e, heads, d)  # [H*D, E] -> [E, H, D]

  def o_kernel(w: np.ndarray) -> np.ndarray:
    return w.T.reshape(n, d, e)  # [E, N*D] -> [N, D, E]

  same = lambda w: w
  out = {
      'self_attn.q_proj.weight': (attn('q_kernel'), (n * d, e), split_out(n)),
      'self_attn.k_proj.weight': (attn('k_kernel'), (k * d, e), split_out(k)),
      'self_attn.v_proj.weight': (attn('v_kernel'), (k * d, e), split_out(k)),
      'self_attn.o_proj.weight': (attn('o_kernel'), (e, n * d), o_kernel),
      'self_attn.q_norm.weight': (attn('q_norm_scale'), (c.q_norm_groups, d), same),
      'self_attn.q_norm.bias': (attn('q_norm_bias'), (c.q_norm_groups, d), same),
      'self_attn.k_norm.weight': (attn('k_norm_scale'), (c.k_norm_groups, d), same),
      'self_attn.k_norm.bias': (attn('k_norm_bias'), (c.k_norm_groups, d), same),
      'mlp.gate_proj.weight': (('mlp', 'gate_kernel'), (f, e), np.transpose),
      'mlp.up_proj.weight': (('mlp', 'up_kernel'), (f, e), np.transpose),
      'mlp.down_proj.weight': (('mlp', 'down_kernel'), (e, f), np.transpose),
      'input_layernorm.weight': (('input_norm', 'scale'), (e,), same),
      'post_attention_layernorm.weight': (('post_attention_norm', 'scale'), (e,), same),
  }
  if c.attention_bias:
    for name, heads in (('q', n), ('k', k), ('v', k)):
      out[f'self_attn.{name}_proj.bias'] = (
          attn(f'{name}_bias'),
          (heads * d,),
          lambda w, h=heads: w.reshape(h, d),
      )
    out['self_attn.o_proj.bias'] = (attn('o_bias'), (e,), same)
  if c.mlp_bias:
    for name, size in (('gate', f), ('up', f), ('down', e)):
      out[f'mlp.{name}_proj.bias'] = (('mlp', f'{name}_bias'), (size,), same)
  return out


def param_map(config: ModelConfig) -> dict[str, Target]:
  """Every HF tensor name of a checkpoint for `config` -> its `Target`."""
  v, e = config.vocab_size, config.embed_dim
  targets = {
      'model.embed_tokens.weight': Target(('embedding',), None, (v, e), lambda w: w),
      'model.norm.weight': Target(('final_norm', 'scale'), None, (e,), lambda w: w),
      'lm_head.weight': Target(('lm_head',), None, (v, e), np.transpose),
  }
  for name, (path, shape, convert) in _layer_params(config).items():
    for i in range(config.num_layers):
      targets[f'model.layers.{i}.{name}'] = Target(('layers', *path), i, shape, convert)
  return targets


def ignored(name: str) -> bool:
  """Whether a checkpoint tensor is not part of the decoder (and is skipped, not an error)."""
  return name.startswith(_IGNORED_PREFIXES) or name.endswith(_IGNORED_SUFFIXES)


def norm_groups(shapes: Mapping[str, Sequence[int]], config: ModelConfig) -> dict[str, int]:
  """q/k-norm groups from the row count of layer 0's q/k-norm weights (none where absent).

  Args:
    shapes: HF tensor name -> shape (of a whole checkpoint; only layer 0's q/k norms are read).
    config: the model (its head counts).

  Raises:
    ValueError naming the tensor when its rows do not divide the head count.
  """
  groups = {}
  for name, heads, field in (
      ('q', config.num_heads, 'num_attention_heads'),
      ('k', config.num_kv_heads, 'num_key_value_heads'),
  ):
    key = f'model.layers.0.self_attn.{name}_norm.weight'
    if key not in shapes:
      continue  # reported as missing by `check`
    shape = tuple(shapes[key])
    if len(shape) != 2 or not shape[0] or heads % shape[0]:
      raise ValueError(
          f'{key}: expected [rows, head_dim] with rows dividing {field}={heads}, found {shape}'
      )
    groups[f'{name}_norm_groups'] = shape[0]
  return groups


def check(shapes: Mapping[str, Sequence[int]], targets: Mapping[str, Target]) -> list[str]:
  """Every missing and unknown tensor name and every shape mismatch, one message each (sorted).

  Args:
    shapes: HF tensor name -> shape of the whole checkpoint (ignorable names included).
    targets: `param_map` of the model the checkpoint should hold.
  """
  given = {k for k in shapes if not ignored(k)}
  problems = [f'missing key {k}' for k in sorted(set(targets) - given)]
  problems += [f'unknown key {k}' for k in sorted(given - set(targets))]
  for key in sorted(given & set(targets)):
    found = tuple(shapes[key])
    if found != targets[key].shape:
      problems.append(f'{key}: expected shape {targets[key].shape}, found {found}')
  return problems


class ParamAssembler:
  """Our parameter arrays, filled one HF tensor at a time (any order, each tensor once).

  Block parameters are written into their slot of a [num_layers, ...] array allocated on first
  use, so a caller streaming a checkpoint holds one converted copy plus the tensor at hand.
  """

  def __init__(self, config: ModelConfig):
    self.config = config
    self.targets = param_map(config)
    self._dtype = np.dtype(config.weight_dtype)
    self._arrays: dict[tuple[str, ...], np.ndarray] = {}
    self._done: set[str] = set()

  def add(self, name: str, tensor: Any) -> None:
    """Converts and stores one HF tensor (numpy array or torch tensor); ignorable names are
    skipped. Raises ValueError naming an unknown, repeated or wrongly shaped tensor."""
    if ignored(name):
      return
    target = self.targets.get(name)
    if target is None:
      raise ValueError(f'unknown key {name}')
    if name in self._done:
      raise ValueError(f'{name}: given twice')
    if tuple(tensor.shape) != target.shape:
      raise ValueError(f'{name}: expected shape {target.shape}, found {tuple(tensor.shape)}')
    value = target.convert(to_numpy(tensor))
    if target.layer is None:
      self._arrays[target.path] = np.array(value, self._dtype)  # a copy: never a source view
    else:
      stacked = self._arrays.get(target.path)
      if stacked is None:
        shape = (self.config.num_layers, *value.shape)
        stacked = self._arrays[target.path] = np.empty(shape, self._dtype)
      stacked[target.layer] = value
    self._done.add(name)

  def missing(self) -> list[str]:
    return sorted(set(self.targets) - self._done)

  def params(self) -> dict[tuple[str, ...], np.ndarray]:
    """Our parameter path -> array; raises ValueError naming the tensors not added yet."""
    missing = self.missing()
    if missing:
      raise ValueError('missing keys ' + ', '.join(missing))
    return dict(self._arrays)


def params_state(
    config: ModelConfig, values: Mapping[tuple[str, ...], Any]
) -> tuple[nnx.GraphDef, nnx.State]:
  """The `Decoder`'s graph and its parameter state holding `values` (numpy arrays stay numpy:
  the state can be saved without a device copy, or merged after `jnp.asarray`)."""
  graphdef, state = nnx.split(nnx.eval_shape(lambda: create_model(config)))
  flat = list(nnx.to_flat_state(state))
  unfilled = sorted(set(path for path, _ in flat) ^ set(values))
  if unfilled:  # the Decoder's parameters changed without this converter
    raise RuntimeError(f'converter and Decoder parameters disagree on {unfilled}')
  return graphdef, nnx.from_flat_state([(p, var.replace(values[p])) for p, var in flat])


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
  shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
  groups = norm_groups(shapes, config)
  config = dataclasses.replace(
      config, **{k: v for k, v in groups.items() if k not in config_overrides}
  )
  assembler = ParamAssembler(config)
  problems = check(shapes, assembler.targets)
  if problems:
    raise ValueError('checkpoint does not match the HF config:\n  ' + '\n  '.join(problems))
  for key, tensor in state_dict.items():
    assembler.add(key, tensor)
  values = {path: jnp.asarray(v) for path, v in assembler.params().items()}
  return nnx.merge(*params_state(config, values)), config
