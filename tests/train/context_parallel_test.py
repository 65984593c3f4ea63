# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Context parallelism: a train step with each sequence split over the mesh's 'context' axis equals
the single-device step, and per-device activation memory shrinks with the axis size.

One subprocess with 8 simulated CPU devices (XLA_FLAGS must be set before jax is imported) runs the
same AR-DF train step without a mesh and on meshes with context 2, 4 and 8 (with data, FSDP and
tensor parallelism beside it), for the blockwise and the dense attention kernels, and reports
losses, gradient norms and parameter differences; then it compiles the step ahead of time at 4,096
tokens with context 1, 2 and 4 and reports each program's per-device temporaries.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from lumos_jax import parallel
from lumos_jax import testing as driver_testing

# (mesh.shape, mesh.context, attention_impl)
CASES = (((2, 1, 1), 4, 'blockwise'), ((1, 2, 2), 2, 'blockwise'), ((1, 1, 1), 8, 'dense'))
LEARNING_RATE = 1e-3
LOSS_ATOL = 2e-6  # losses ~4.2: a few float32 ulps
GRAD_NORM_ATOL = 2e-6
# After one Adam step of ~lr per element: reduction-order noise moves elements whose gradient is
# ~1e-8 by a few percent of lr (see tests/train/mesh_test.py); a wrong gather or a missing
# reduction changes gradients at O(1) and many elements by ~lr.
PARAM_ATOL = 0.1 * LEARNING_RATE

_SCRIPT = textwrap.dedent("""
    import json, sys

    import jax
    import numpy as np
    from flax import nnx

    from lumos_jax import layout, parallel, train, vocab as vocab_lib
    from lumos_jax.model import ModelConfig, create_model
    from lumos_jax.train import step as step_lib

    cases, lr = json.loads(sys.argv[1])
    vocab = vocab_lib.demo(codebook_size=64)
    optim = train.OptimConfig(learning_rate=lr, min_learning_rate=lr)
    tx = train.make_optimizer(optim)

    def model_config(impl, mlp_dim=128):
      return ModelConfig(
          vocab_size=vocab.size, embed_dim=64, num_layers=2, num_heads=4, num_kv_heads=2,
          head_dim=32, mlp_dim=mlp_dim, attention_impl=impl,
      )

    def settings_for(graphdef, config):
      return train.StepSettings(
          graphdef, config, tx, train.learning_rate_schedule(optim), vocab, train.ARDFConfig(),
          train.LossConfig(chunk_size=32, max_frames=4),
      )

    # 4 right-padded items of 1 or 3 frames of 3x4 latents, 96 tokens per row.
    rng = np.random.default_rng(0)
    tokens = np.full((4, 96), vocab.pad, np.int32)
    labels = np.full((4, 96), vocab_lib.IGNORE, np.int32)
    for b in range(4):
      frames = [rng.integers(0, vocab.codebook_size, (3, 4)) for _ in range(1 + b % 2 * 2)]
      text = rng.integers(vocab.byte_offset, vocab.byte_offset + 256, (1 + b % 3,))
      item = layout.build_item(text, frames, vocab, duration=1, fps=len(frames))
      tokens[b, : len(item.tokens)] = item.tokens
      labels[b, : len(item.labels)] = item.labels
    batch = {'tokens': tokens, 'labels': labels}

    def flat(tree):
      return {
          jax.tree_util.keystr(p): np.array(x, copy=True)
          for p, x in jax.tree_util.tree_leaves_with_path(tree)
      }

    out = {'cases': []}
    for shape, context, impl in cases:
      config = model_config(impl)
      graphdef, state, _ = train.create_train_state(config, tx, seed=0)
      start = flat(state.params)
      state, metrics = train.compile_train_step(settings_for(graphdef, config))(state, batch)
      want = flat(state.params)
      mesh = parallel.make_mesh(shape, context=context)
      graphdef, state, shardings = train.create_train_state(config, tx, seed=0, mesh=mesh)
      step = train.compile_train_step(settings_for(graphdef, config), mesh, shardings)
      state, got_metrics = step(state, jax.device_put(batch, parallel.batch_sharding(mesh)))
      got = flat(state.params)
      out['cases'].append({
          'mesh': dict(mesh.shape),
          'loss': [float(metrics['loss']), float(got_metrics['loss'])],
          'grad_norm': [float(metrics['grad_norm']), float(got_metrics['grad_norm'])],
          'param_diff': max(float(np.max(np.abs(got[k] - want[k]))) for k in want),
          'moved': max(float(np.max(np.abs(want[k] - start[k]))) for k in want),
      })

    # Per-device temporaries of the step at 4,096 tokens (compiled ahead of time, no arrays).
    config = model_config('blockwise', mlp_dim=256)
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: create_model(config, 0)))
    shape = jax.ShapeDtypeStruct((1, 4096), np.int32)
    out['temp_bytes'] = {}
    for context in (1, 2, 4):
      mesh = parallel.make_mesh((1, 1, 1), devices=jax.devices()[:context], context=context)
      abstract, shardings = train.abstract_train_state(config, tx, 0, mesh)
      compiled = step_lib.lower_train_step(
          settings_for(graphdef, config), mesh, shardings, abstract,
          {'tokens': shape, 'labels': shape},
      ).compile()
      out['temp_bytes'][context] = compiled.memory_analysis().temp_size_in_bytes
      out.setdefault('all_gather', {})[context] = 'all-gather' in compiled.as_text()
    print(json.dumps(out))
    """)


@pytest.fixture(scope='module')
def report():
  proc = subprocess.run(
      [sys.executable, '-c', _SCRIPT, json.dumps([CASES, LEARNING_RATE])],
      env=driver_testing.subprocess_env(devices=8),
      capture_output=True,
      text=True,
      timeout=900,
      cwd=driver_testing.REPO,
  )
  assert proc.returncode == 0, proc.stderr[-8000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_context_parallel_step_equals_one_device(report):
  assert len(report['cases']) == len(CASES)
  for (shape, context, impl), got in zip(CASES, report['cases']):
    where = f'mesh {shape} context {context} {impl}'
    assert got['mesh'] == {
        'data': shape[0],
        'fsdp': shape[1],
        'context': context,
        'tensor': shape[2],
    }, where
    want_loss, loss = got['loss']
    assert abs(loss - want_loss) <= LOSS_ATOL, (where, got['loss'])
    want_norm, norm = got['grad_norm']
    assert abs(norm - want_norm) <= GRAD_NORM_ATOL, (where, got['grad_norm'])
    assert got['moved'] > 0.5 * LEARNING_RATE  # the step moved the params far beyond the tolerance
    assert got['param_diff'] <= PARAM_ATOL, (where, got['param_diff'])


def test_activation_memory_shrinks_with_the_context_axis(report):
  temp = {int(k): v for k, v in report['temp_bytes'].items()}
  assert temp[2] < 0.6 * temp[1] and temp[4] < 0.6 * temp[2], temp
  assert report['all_gather'] == {'1': False, '2': True, '4': True}


def test_bad_context_axis_sizes():
  with pytest.raises(ValueError, match='mesh.context=3 does not divide'):
    parallel.make_mesh((-1, 1, 1), devices=list(range(4)), context=3)
  with pytest.raises(ValueError, match=r'needs 4 devices, have 4 / context 2'):
    parallel.make_mesh((4, 1, 1), devices=list(range(4)), context=2)


def test_config_buckets_must_split_over_the_context_axis():
  from lumos_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from lumos_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top

  raw = driver_testing.load_config('tiny')
  raw.mesh.context = 3
  with pytest.raises(ConfigError, match=r'length_buckets=.*mesh.context=3 every bucket'):
    config_lib.parse(raw)
