# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""History probe: hand-made cross-entropies; frame 0 has no history; later frames never count."""

import json

import jax
import numpy as np
import pytest

from lumos_jax import layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.evaluation import history_probe
from lumos_jax.model import ModelConfig, create_model, logits

V = vocab_lib.demo(codebook_size=16)
H = W = 2
T = 3


@pytest.fixture(scope='module')
def model():
  return create_model(
      ModelConfig(
          vocab_size=V.size,
          embed_dim=32,
          num_layers=2,
          num_heads=2,
          num_kv_heads=1,
          head_dim=32,
          mlp_dim=64,
      ),
      seed=1,
  )


def _clips(seed=0, num=3):
  rng = np.random.default_rng(seed)
  clips = []
  for _ in range(num):
    codes = np.full((T, H, W), 3)  # background code 3, one object code per frame
    for t in range(T):
      codes[t].flat[rng.integers(H * W)] = rng.integers(4, V.codebook_size)
    text = V.byte_offset + rng.integers(97, 123, size=int(rng.integers(3, 7)))
    clips.append((text, codes))
  return clips


def _by_hand(model, text, codes, t, shown):
  """Cross-entropies of frame t's codes (all, object) for one clip, from the model's logits."""
  tokens = layout.build_item(text, list(codes), V, duration=1, fps=T).tokens
  is_code = (tokens >= V.visual_offset) & (tokens < V.visual_end)
  frame = (np.cumsum(is_code) - 1) // (H * W)  # codes come frame after frame, H * W each
  hide = is_code & ((frame >= t) if shown else True)
  out = logits(model, np.where(hide, V.mask, tokens)[None], V)[0]
  logp = np.asarray(jax.nn.log_softmax(out[:, V.visual_offset : V.visual_end], axis=-1))
  pos = np.flatnonzero(is_code & (frame == t))
  ce = -logp[pos, tokens[pos] - V.visual_offset]
  return ce, ce[codes[t].ravel() != 3]


def test_probe_matches_a_hand_computation(model):
  clips = _clips()
  result = history_probe.history_probe(model, V, clips, duration=1, fps=T, batch_size=2)
  for t in range(T):
    for shown, (column, object_column) in (
        (False, (result.hidden, result.object_hidden)),
        (True, (result.shown, result.object_shown)),
    ):
      ces = [_by_hand(model, text, codes, t, shown) for text, codes in clips]
      np.testing.assert_allclose(column[t], np.mean(np.concatenate([c for c, _ in ces])), rtol=1e-5)
      np.testing.assert_allclose(
          object_column[t], np.mean(np.concatenate([o for _, o in ces])), rtol=1e-5
      )
  # Frame 0 has no history; a random model's later frames do depend on it.
  assert result.hidden[0] == result.shown[0]
  assert all(result.hidden[t] != result.shown[t] for t in range(1, T))


def test_later_frames_never_change_earlier_scores(model):
  clips = _clips(seed=1)
  other = [(text, codes.copy()) for text, codes in clips]
  for _, codes in other:
    codes[-1] = (codes[-1] + 5) % V.codebook_size
  a = history_probe.history_probe(model, V, clips, duration=1, fps=T)
  b = history_probe.history_probe(model, V, other, duration=1, fps=T)
  for field in ('hidden', 'shown', 'object_hidden', 'object_shown'):
    np.testing.assert_allclose(getattr(a, field)[:-1], getattr(b, field)[:-1], rtol=1e-6)


def test_table_json_and_errors(model):
  plain = [(V.byte_offset + np.arange(97, 100), np.full((T, H, W), 3))]  # no object codes
  result = history_probe.history_probe(model, V, plain, duration=1, fps=T)
  assert np.isnan(result.object_shown).all()
  assert json.loads(json.dumps(result.as_dict()))['object_shown'] == [None] * T
  assert result.format_table().splitlines()[2].startswith('| 0 | ')
  with pytest.raises(ValueError, match='at least one clip'):
    history_probe.history_probe(model, V, [], duration=1, fps=T)
  with pytest.raises(ValueError, match=r'same number of frames, got \[2, 3\]'):
    history_probe.history_probe(
        model, V, plain + [(plain[0][0], np.zeros((2, H, W), int))], duration=1, fps=T
    )
