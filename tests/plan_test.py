# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`lumos_jax.plan`: the batch shapes of a recipe by hand, a compiled plan's figures, sharding over
simulated devices, and the errors."""

import json
import math
import subprocess
import sys

import jax
import pytest
from flax import nnx

from lumos_jax import config as config_lib
from lumos_jax import flops, plan, testing
from lumos_jax.errors import UserError
from lumos_jax.model import create_model


def _config(name='tiny', **overrides):
  return config_lib.parse(testing.load_config(name, **overrides))


def test_shapes_of_the_1b_joint_recipe_at_384p():
  config = _config('lumos1_1b_stage2_joint:gpus=2')
  video, image = plan.batch_shapes(config, resolution=(384, 672))
  frame = 48 * (84 + 1) + 4  # rows of 84 codes + new-line, 4 header / end tokens
  # 12 fps x 2 s -> 7 Cosmos latent frames; BOS, 256 prompt tokens, SEP, 3 header, 2 tail.
  assert (video.kind, video.frames, video.rows, video.cols) == ('video', 7, 48, 84)
  assert video.tokens == 2 * (256 + 7 + 7 * frame) == 2 * 28_851 and video.length == 32_768
  prefix = 1 + 256 + 1 + 3
  pairs = prefix * (prefix + 1) / 2  # causal text and header
  pairs += sum(frame * (prefix + (k + 1) * frame) for k in range(7))  # frames see their end
  pairs += 2 * (prefix + 7 * frame) + 3  # video end and SEP, causal
  assert video.pairs == pytest.approx(2 * pairs, rel=1e-6)  # a float32 sum
  # AR-DF masks max(cos(pi t / 2), 0.7) of the codes, t ~ U[0, 1): cos >= 0.7 up to t0, so the
  # mean is the integral of cos over [0, t0] plus 0.7 x (1 - t0).
  t0 = 2 / math.pi * math.acos(0.7)
  ratio = 2 / math.pi * math.sin(math.pi / 2 * t0) + 0.7 * (1 - t0)
  assert video.targets == pytest.approx(2 * 7 * 48 * 84 * ratio, rel=1e-5)
  assert (image.kind, image.frames, image.length, image.tokens) == ('image', 1, 8192, 2 * 4347)


def test_frames_beyond_the_largest_bucket_are_an_error():
  config = _config('lumos1_3b_stage2_joint:gpus=8')
  video, _ = plan.batch_shapes(config, frames=15, resolution=(384, 672))
  assert video.length == 65_536 and video.tokens == 8 * (263 + 15 * 4084)
  with pytest.raises(UserError, match=r'16 frames of 48x84 latents: .*data.length_buckets'):
    plan.batch_shapes(config, frames=16, resolution=(384, 672))
  with pytest.raises(UserError, match='--frames=0: expected at least 1'):
    plan.batch_shapes(config, frames=0)
  with pytest.raises(UserError, match='multiples of the visual tokenizer'):
    plan.batch_shapes(config, resolution=(384, 670))


@pytest.fixture(scope='module')
def tiny_plan():
  config = _config()
  return config, plan.make_plan(config)


def test_plan_of_the_tiny_config(tiny_plan):
  config, p = tiny_plan
  assert p.devices == 1 and p.backend == 'cpu' and set(p.sampler) == {'prefill', 'frame'}
  (t,) = p.train  # tiny trains on videos only
  model = nnx.eval_shape(lambda: create_model(config.model))
  n = sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
  assert t.params_bytes == 4 * n  # float32, one device
  assert 2 * t.params_bytes <= t.opt_state_bytes < 2 * t.params_bytes + 1024  # Adam mu, nu
  assert t.memory.arguments >= t.params_bytes + t.opt_state_bytes
  assert t.memory.peak == (
      t.memory.arguments + t.memory.outputs + t.memory.temporaries - t.memory.aliased
  )
  assert t.memory.aliased >= t.params_bytes + t.opt_state_bytes  # the state is donated
  expected = flops.ModelFlops.of(config.model, config.vocab.codebook_size)
  assert t.model_flops == expected(t.shape.tokens, t.shape.targets, t.shape.pairs)
  assert t.xla_flops > 0
  text = plan.format_plan(p, config.model)
  assert f'video 4x4x4, {config.data.batch_size} x {t.shape.length}' in text
  assert 'CPU compiler' in text and 'prefill' in text


def test_batch_must_divide_the_mesh_batch_axes():
  config = _config()
  mesh = jax.sharding.AbstractMesh((1, 3, 1), ('data', 'fsdp', 'tensor'))
  (shape,) = plan.batch_shapes(config)
  with pytest.raises(UserError, match=r'data.batch_size=8 is not a multiple of .* = 3'):
    plan.plan_train(config, mesh, shape)


def test_devices_must_be_set_before_jax_starts():
  jax.devices()
  with pytest.raises(UserError, match='--devices=3: jax already started'):
    plan.use_cpu_devices(3)


_SHARDED = """
import json
import jax
from lumos_jax import config as config_lib, parallel, plan, testing
plan.use_cpu_devices(2)
config = config_lib.parse(testing.load_config('tiny', **{'mesh.shape': (1, 2, 1)}))
(shape,) = plan.batch_shapes(config)
t = plan.plan_train(config, parallel.make_mesh(config.mesh.shape), shape)
print(json.dumps(dict(devices=len(jax.devices()), params=t.params_bytes)))
"""


def test_fsdp_over_two_simulated_devices_halves_the_parameters(tiny_plan):
  proc = subprocess.run(
      [sys.executable, '-c', _SHARDED],
      capture_output=True,
      text=True,
      timeout=600,
      env=testing.subprocess_env(),
      cwd=testing.REPO,
      check=True,
  )
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  one = tiny_plan[1].train[0].params_bytes
  assert out['devices'] == 2
  # Every matrix has an embed dim (sharded over fsdp); only the norm scales stay whole.
  assert one / 2 < out['params'] < 0.55 * one
