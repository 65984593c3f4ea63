# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Sampler: cache equivalence, guidance, I2V, determinism, MaskGIT schedule, history masking."""

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lumos_jax import ardf, layout, sampling
from lumos_jax import vocab as vocab_lib
from lumos_jax.model import ModelConfig, create_model

V = vocab_lib.demo(codebook_size=64)
CFG = ModelConfig(
    vocab_size=V.size,
    embed_dim=64,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    head_dim=32,
    mlp_dim=128,
    init_std=0.3,
)
PROMPTS = [[V.byte_offset + c for c in b'red dot'], [V.byte_offset + c for c in b'a blue square']]
H, W = 3, 4


@pytest.fixture(scope='module')
def model():
  return create_model(CFG, seed=0)


def _run(model, seed=1, given=None, frames=3, **kw):
  config = sampling.SamplingConfig(**{'steps': 5, **kw})
  request = sampling.Request(
      PROMPTS, num_frames=frames, height=H, width=W, duration=frames, fps=1, given_frames=given
  )
  return sampling.Sampler(model, V, config).generate(request, seed=seed)


def _given(k=1):
  rng = np.random.default_rng(7)
  return [rng.integers(0, V.codebook_size, (k, H, W)) for _ in PROMPTS]


def test_cached_and_uncached_give_identical_tokens(model):
  for given in (None, _given()):
    a = _run(model, given=given)
    b = _run(model, given=given, use_cache=False)
    np.testing.assert_array_equal(a.tokens, b.tokens)


def test_cfg_scale_one_equals_conditional_only(model):
  np.testing.assert_array_equal(
      _run(model, cfg_scale=1.0).tokens, _run(model, cfg_scale=None).tokens
  )
  assert (_run(model, cfg_scale=5.0).tokens != _run(model, cfg_scale=None).tokens).any()


def test_output_parses_and_i2v_keeps_given_frames(model):
  given = _given(k=2)
  out = _run(model, given=given, frames=4, history_mask_ratio=0.5)
  for i, prompt in enumerate(PROMPTS):
    parsed = layout.parse_video(out.tokens[i], V)
    assert parsed.complete and len(parsed.frames) == 4 and (parsed.duration, parsed.fps) == (4, 1)
    np.testing.assert_array_equal(parsed.text, prompt)
    np.testing.assert_array_equal(np.stack(parsed.frames), out.frames[i])
    np.testing.assert_array_equal(out.frames[i, :2], given[i])
  assert out.frames.min() >= 0 and out.frames.max() < V.codebook_size


def test_deterministic_for_a_seed_and_steps_one(model):
  np.testing.assert_array_equal(_run(model, seed=3).tokens, _run(model, seed=3).tokens)
  assert (_run(model, seed=3).frames != _run(model, seed=4).frames).any()
  one = _run(model, steps=1)
  assert not (one.tokens == V.mask).any()


def test_temperature_modes_differ_after_the_first_frame(model):
  official = _run(model, temperature_mode='official')
  per_frame = _run(model, temperature_mode='per_frame')
  # identical first frame (same schedule within it), then tau = 0 vs annealed noise
  np.testing.assert_array_equal(official.frames[:, 0], per_frame.frames[:, 0])
  assert (official.frames[:, 1:] != per_frame.frames[:, 1:]).any()


def test_one_compilation_for_all_frames_and_settings(model):
  """Frames, guidance scales, step counts and temperatures share one compiled frame program."""
  sampling._generate_frame.clear_cache()
  first = _run(model, frames=4)
  assert sampling._generate_frame._cache_size() == 1
  other = _run(model, frames=4, cfg_scale=7.0, steps=3, temperature=0.5)
  assert sampling._generate_frame._cache_size() == 1
  assert (first.frames != other.frames).any()
  np.testing.assert_array_equal(_run(model, frames=4).frames, first.frames)


@pytest.mark.parametrize(
    'n, want_start, want_end',
    [
        (4032, [4030, 4024, 4014, 4000], [379, 253, 126, 0]),
        (1792, [1791, 1788, 1784], [112, 56, 0]),
    ],
)
def test_maskgit_masked_counts_match_spec(n, want_start, want_end):
  steps = 50
  codes = jnp.full((1, n), V.mask, jnp.int32)
  logits = jax.random.normal(jax.random.key(0), (1, n, 8))
  counts = []
  for s in range(steps):
    codes = sampling.maskgit_update(
        jax.random.key(s),
        logits,
        codes,
        jnp.int32(s),
        steps,
        jnp.float32(1.0),
        V.mask,
        V.visual_offset,
    )
    counts.append(int((codes == V.mask).sum()))
  assert counts[: len(want_start)] == want_start
  assert counts[-len(want_end) :] == want_end
  # decided tokens never change again
  assert ((codes >= V.visual_offset) & (codes < V.visual_offset + 8)).all()


def test_maskgit_keeps_known_tokens():
  codes = jnp.array([[V.mask, V.visual_offset + 5, V.mask, V.visual_offset + 2]])
  logits = jnp.zeros((1, 4, 8))
  for s in range(3):
    codes2 = sampling.maskgit_update(
        jax.random.key(s), logits, codes, jnp.int32(s), 3, jnp.float32(0.0), V.mask, V.visual_offset
    )
    assert codes2[0, 1] == V.visual_offset + 5 and codes2[0, 3] == V.visual_offset + 2


def test_history_mask_touches_exactly_the_pattern():
  content = H * (W + 1)
  block = jnp.asarray(layout.frame_block(np.arange(H * W).reshape(H, W) % 64, V))
  masked = np.asarray(ardf.history_mask(block[None], content, 0.7, V.mask))[0]
  changed = np.flatnonzero(masked != np.asarray(block))
  np.testing.assert_array_equal(changed, 3 + ardf.history_pattern(content, 0.7))
  assert (masked[changed] == V.mask).all()


def test_history_ratio_changes_generation_not_given_frames(model):
  given = _given()
  a = _run(model, given=given, history_mask_ratio=0.7)
  b = _run(model, given=given, history_mask_ratio=0.2)
  np.testing.assert_array_equal(a.frames[:, 0], b.frames[:, 0])
  assert (a.frames[:, 1:] != b.frames[:, 1:]).any()


def test_top_k_top_p_filtering():
  logits = jnp.log(jnp.array([[[0.5, 0.3, 0.15, 0.05]]]))
  kept = lambda x: np.isfinite(np.asarray(x))[0, 0].tolist()
  assert kept(sampling._top_k_top_p(logits, 2, 1.0)) == [True, True, False, False]
  assert kept(sampling._top_k_top_p(logits, 0, 0.7)) == [True, True, False, False]
  assert kept(sampling._top_k_top_p(logits, 0, 0.5)) == [True, False, False, False]
  assert kept(sampling._top_k_top_p(logits, 0, 0.81)) == [True, True, True, False]


def test_config_errors():
  with pytest.raises(ValueError, match='sample.steps'):
    sampling.SamplingConfig(steps=0)
  with pytest.raises(ValueError, match='sample.temperature_mode'):
    sampling.SamplingConfig(temperature_mode='reset')
  with pytest.raises(ValueError, match='given_frames must hold'):
    _run(
        create_model(dataclasses.replace(CFG, num_layers=1)),
        given=[np.zeros((1, H + 1, W), int)] * 2,
    )
  with pytest.raises(ValueError, match='num_frames'):
    _run(create_model(dataclasses.replace(CFG, num_layers=1)), given=_given(3), frames=3)


def test_given_frames_enter_the_cache_unmasked_unless_asked(model):
  """Official I2V (spec 7.6 b): the given frame's K/V come from the unmasked frame; with
  mask_given_frames the history pattern is applied to it, which changes the generated frames."""
  given = _given()
  official = _run(model, given=given)
  masked = _run(model, given=given, mask_given_frames=True)
  np.testing.assert_array_equal(official.frames[:, 0], masked.frames[:, 0])  # the output keeps it
  assert (official.frames[:, 1:] != masked.frames[:, 1:]).any()


def test_a_prompt_sample_does_not_depend_on_its_batch(model):
  """Row i of a batch sampled with seed s equals that prompt alone with seed s + i."""
  both = _run(model, seed=5)
  for i, prompt in enumerate(PROMPTS):
    config = sampling.SamplingConfig(steps=5)
    request = sampling.Request([prompt], num_frames=3, height=H, width=W, duration=3, fps=1)
    alone = sampling.Sampler(model, V, config).generate(request, seed=[5 + i])
    np.testing.assert_array_equal(alone.frames[0], both.frames[i])
  swapped = sampling.Sampler(model, V, sampling.SamplingConfig(steps=5)).generate(
      sampling.Request(PROMPTS[::-1], num_frames=3, height=H, width=W, duration=3, fps=1),
      seed=[6, 5],
  )
  np.testing.assert_array_equal(swapped.frames[::-1], both.frames)
  with pytest.raises(ValueError, match='one seed per prompt'):
    _run(model, seed=[1, 2, 3])


_MESH_SCRIPT = r"""
import jax, numpy as np
from lumos_jax import parallel, sampling
from tests.sampling_test import CFG, H, PROMPTS, V, W
from lumos_jax.model import create_model

model = create_model(CFG, seed=0)
prompts = (PROMPTS * 4)[:8]
given = [np.random.default_rng(i).integers(0, V.codebook_size, (1, H, W)) for i in range(8)]
# guided I2V on the data axis; unguided T2V on data x fsdp (tensor axis unused, replicated)
for kw, cfg_scale, shape in (({'given_frames': given}, 3.0, (8, 1, 1)), ({}, None, (2, 2, 2))):
  config = sampling.SamplingConfig(steps=3, cfg_scale=cfg_scale)
  request = sampling.Request(prompts, num_frames=3, height=H, width=W, duration=3, fps=1, **kw)
  want = sampling.Sampler(model, V, config).generate(request, seed=11)
  sampler = sampling.Sampler(model, V, config, mesh=parallel.make_mesh(shape))
  got = sampler.generate(request, seed=11)
  np.testing.assert_array_equal(got.frames, want.frames)
  np.testing.assert_array_equal(got.tokens, want.tokens)
  assert len(sampler.state['embedding'][...].sharding.device_set) == 8
try:
  sampling.Sampler(model, V, config, mesh=parallel.make_mesh((8, 1, 1))).generate(
      sampling.Request(prompts[:3], num_frames=2, height=H, width=W), seed=0)
  raise SystemExit('3 prompts on 8 devices did not fail')
except ValueError as e:
  assert 'multiple' in str(e), e
print('MESH OK')
"""


def test_sharded_sampling_equals_one_device():
  """On 8 simulated devices, prompts split over the batch axes give the one-device tokens."""
  import subprocess  # pylint: disable=g-import-not-at-top

  from lumos_jax import testing  # pylint: disable=g-import-not-at-top

  proc = subprocess.run(
      [sys.executable, '-c', _MESH_SCRIPT],
      env=testing.subprocess_env(devices=8),
      cwd=testing.REPO,
      capture_output=True,
      text=True,
      timeout=900,
      check=False,
  )
  assert 'MESH OK' in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_logits_chunks_do_not_change_the_tokens(model):
  """Positions drawn in chunks (padded last chunk) give the tokens of one whole-frame draw."""
  whole = _run(model, position_chunk=H * W)
  for chunk in (1, 5):
    np.testing.assert_array_equal(_run(model, position_chunk=chunk).tokens, whole.tokens)


def test_draw_codes_follows_the_distribution():
  """Inverse-CDF draws: frequencies match softmax(logits) (chi-square), zero-probability codes
  (cut by top-k) are never drawn, and u = 0 / u -> 1 give the first / last possible code."""
  logits = jnp.log(jnp.array([0.1, 0.0, 0.2, 0.3, 0.4]) + 1e-30)
  logits = jnp.where(jnp.arange(5) == 1, -jnp.inf, logits)
  n = 200_000
  u = jax.random.uniform(jax.random.key(0), (n,))
  codes, probs = sampling.draw_codes(u, jnp.broadcast_to(logits, (n, 5)))
  counts = np.bincount(np.asarray(codes), minlength=5)
  expected = n * np.array([0.1, 0.0, 0.2, 0.3, 0.4])
  assert counts[1] == 0
  keep = expected > 0
  chi2 = (((counts - expected) ** 2)[keep] / expected[keep]).sum()
  assert chi2 < 16.3  # 3 degrees of freedom, p = 0.001
  np.testing.assert_allclose(np.asarray(probs), np.array([0.1, 0.0, 0.2, 0.3, 0.4])[codes], 1e-5)
  edge, _ = sampling.draw_codes(jnp.array([0.0, 0.9999999]), jnp.stack([logits, logits]))
  assert edge.tolist() == [0, 4]
  masked_first, _ = sampling.draw_codes(jnp.array([0.0]), jnp.array([[-jnp.inf, 0.0, 0.0]]))
  assert masked_first.tolist() == [1]
