# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Parity of `load_hf_chameleon` with transformers' Chameleon, and its error messages."""

import jax.numpy as jnp
import numpy as np
import pytest

from lumos_jax import layout
from lumos_jax.convert import load_hf_chameleon, model_config_from_hf
from lumos_jax.model import Inputs
from lumos_jax.model.rope import rope_cos_sin

torch = pytest.importorskip('torch')
transformers = pytest.importorskip('transformers')

HEADS, KV_HEADS, HEAD_DIM, VOCAB = 4, 2, 16, 300


def _hf_config(**kw):
  return transformers.ChameleonConfig(
      vocab_size=VOCAB,
      hidden_size=HEADS * HEAD_DIM,
      num_hidden_layers=2,
      num_attention_heads=HEADS,
      num_key_value_heads=KV_HEADS,
      intermediate_size=128,
      rms_norm_eps=1e-5,
      rope_parameters={'rope_type': 'default', 'rope_theta': 10000.0},
      model_parallel_size=1,
      vocabulary_map={},  # no IMGIMG* names: the HF head suppresses no logit columns
      vq_config=dict(
          base_channels=32,
          channel_multiplier=[1, 1],
          num_res_blocks=1,
          embed_dim=8,
          latent_channels=8,
          num_embeddings=16,
          resolution=16,
      ),  # small, ignored
      **kw,
  )


def _random_hf(**config):
  """A float32 HF Chameleon with random (non-trivial) weights, its config and random tokens."""
  torch.manual_seed(0)
  cfg = _hf_config(**config)
  model = transformers.ChameleonForConditionalGeneration(cfg).eval().float()
  assert model.model.vocabulary_mapping.image_tokens == []
  with torch.no_grad():
    for name, p in model.named_parameters():
      if name.endswith(('norm.weight', 'layernorm.weight')):
        p.copy_(1 + 0.5 * torch.randn_like(p))
      elif name.endswith('norm.bias'):
        p.copy_(0.5 * torch.randn_like(p))
      elif not name.startswith('model.vqmodel.'):
        p.copy_(0.1 * torch.randn_like(p))  # larger than the init so that every layer matters
  tokens = np.random.default_rng(0).integers(1, VOCAB, size=(2, 12))
  return cfg, model, tokens


@pytest.fixture(scope='module')
def hf():
  return _random_hf()


def _hf_logits(model, tokens):
  with torch.no_grad():
    return model(input_ids=torch.as_tensor(tokens)).logits.float().numpy()


def _our_logits(model, config, tokens):
  b, length = tokens.shape
  text = np.broadcast_to(np.arange(length, dtype=np.int32), (b, length))
  zeros = np.zeros_like(text)
  positions = layout.Positions(
      text=text, t=zeros, h=zeros, w=zeros, is_visual=np.zeros((b, length), bool)
  )
  cos, sin = rope_cos_sin(positions, config.head_dim, config.rope_theta, config.rope_variant)
  inputs = Inputs(jnp.asarray(tokens, jnp.int32), cos, sin, spans=jnp.asarray(text))  # causal
  hidden, _ = model(inputs)
  return np.asarray(model.logits(hidden))


def _state_dict(model):
  return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_logits_match_transformers(hf):
  cfg, model, tokens = hf
  ours, config = load_hf_chameleon(_state_dict(model), cfg.to_dict(), rope_variant='1d')
  assert (config.q_norm_groups, config.k_norm_groups) == (HEADS, KV_HEADS)  # HF: one row per head
  expected = _hf_logits(model, tokens)
  np.testing.assert_allclose(_our_logits(ours, config, tokens), expected, rtol=0, atol=1e-4)
  assert np.abs(expected).max() > 1  # not trivially small


def test_logits_match_transformers_with_biases():
  cfg, model, tokens = _random_hf(attention_bias=True, mlp_bias=True)
  ours, config = load_hf_chameleon(_state_dict(model), cfg.to_dict(), rope_variant='1d')
  assert config.attention_bias and config.mlp_bias
  np.testing.assert_allclose(
      _our_logits(ours, config, tokens), _hf_logits(model, tokens), rtol=0, atol=1e-4
  )


@pytest.mark.parametrize('mp', [1, 2])
def test_official_qk_norm_layout(mp):
  """Official [model_parallel_size, D] q/k norms: row r serves a block of consecutive heads."""
  cfg, model, tokens = _random_hf()
  state = _state_dict(model)
  gen = torch.Generator().manual_seed(mp)
  with torch.no_grad():
    for name, p in model.named_parameters():
      if '_norm.' in name and 'self_attn' in name:
        official = (1.0 if name.endswith('weight') else 0.0) + 0.5 * torch.randn(
            mp, HEAD_DIM, generator=gen
        )
        state[name] = official
        p.copy_(official.repeat_interleave(p.shape[0] // mp, dim=0))  # HF: rows [a, a, b, b]
  expected = _hf_logits(model, tokens)
  ours, config = load_hf_chameleon(
      state, {**cfg.to_dict(), 'model_parallel_size': mp}, rope_variant='1d'
  )
  assert (config.q_norm_groups, config.k_norm_groups) == (mp, mp)
  np.testing.assert_allclose(_our_logits(ours, config, tokens), expected, rtol=0, atol=1e-4)


def test_config_fields(hf):
  cfg, _, _ = hf
  d = {**cfg.to_dict(), 'hidden_size': 128, 'mm_rope': True, 'rope_theta': 5e5}
  config = model_config_from_hf(d, q_norm_groups=2)
  assert (config.embed_dim, config.num_heads, config.num_kv_heads, config.head_dim) == (
      128,
      HEADS,
      KV_HEADS,
      32,
  )
  # v5 `rope_parameters` wins over a stray top-level rope_theta
  assert (config.rope_variant, config.rope_theta, config.q_norm_groups) == ('mm', 10000.0, 2)
  legacy = {k: v for k, v in cfg.to_dict().items() if k != 'rope_parameters'}  # v4 style
  config = model_config_from_hf({**legacy, 'rope_theta': 5e5, 'num_key_value_heads': None})
  assert (config.rope_theta, config.rope_variant, config.num_kv_heads) == (5e5, '1d', HEADS)


@pytest.mark.parametrize(
    'field, value',
    [
        ('hidden_act', 'gelu'),
        ('swin_norm', True),
        ('tie_word_embeddings', True),
        ('rope_scaling', {'type': 'linear', 'factor': 2.0}),
        ('rope_parameters', {'rope_type': 'linear', 'rope_theta': 1e4, 'factor': 2.0}),
    ],
)
def test_unsupported_config_names_field(hf, field, value):
  cfg, _, _ = hf
  with pytest.raises(ValueError, match=field):
    model_config_from_hf({**cfg.to_dict(), field: value})


def test_missing_config_field(hf):
  cfg, _, _ = hf
  with pytest.raises(ValueError, match='intermediate_size'):
    model_config_from_hf({k: v for k, v in cfg.to_dict().items() if k != 'intermediate_size'})


def _load(hf, edit):
  cfg, model, _ = hf
  state = _state_dict(model)
  edit(state)
  return load_hf_chameleon(state, cfg.to_dict(), rope_variant='1d')


def test_missing_key(hf):
  key = 'model.layers.1.mlp.up_proj.weight'
  with pytest.raises(ValueError, match=f'missing key {key}'):
    _load(hf, lambda s: s.pop(key))


def test_unknown_key(hf):
  key = 'model.layers.0.self_attn.extra.weight'
  with pytest.raises(ValueError, match=f'unknown key {key}'):
    _load(hf, lambda s: s.update({key: torch.zeros(3)}))


def test_wrong_shape(hf):
  key = 'model.layers.1.self_attn.k_proj.weight'
  with pytest.raises(ValueError, match=rf'{key}: expected shape \(32, 64\), found \(64, 64\)'):
    _load(hf, lambda s: s.update({key: torch.zeros(64, 64)}))


def test_qk_norm_rows_must_agree_across_layers(hf):
  key = 'model.layers.1.self_attn.q_norm.weight'
  with pytest.raises(ValueError, match=rf'{key}: expected shape \(4, 16\), found \(2, 16\)'):
    _load(hf, lambda s: s.update({key: torch.ones(2, HEAD_DIM)}))


def test_qk_norm_rows_must_divide_heads(hf):
  key = 'model.layers.0.self_attn.q_norm.weight'
  with pytest.raises(ValueError, match=f'{key}.*num_attention_heads=4'):
    _load(hf, lambda s: s.update({key: torch.ones(3, HEAD_DIM)}))


def test_bfloat16_checkpoint(hf):
  cfg, model, _ = hf
  state = {k: v.to(torch.bfloat16) for k, v in _state_dict(model).items()}
  ours, config = load_hf_chameleon(state, cfg.to_dict(), param_dtype='bfloat16')
  assert ours.lm_head[...].dtype == jnp.bfloat16
  want = state['lm_head.weight'].float().numpy().T
  np.testing.assert_array_equal(np.asarray(ours.lm_head[...], np.float32), want)
