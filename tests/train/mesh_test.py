# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The sharded train step on 8 simulated CPU devices equals the single-device one.

One subprocess (XLA_FLAGS must be set before jax is imported, and this process has imported it)
runs two steps of the same AR-DF train step without a mesh and on meshes (8,1,1), (2,2,2) and
(1,4,2), and reports as JSON: per-step losses, max differences of the final params and optimizer
state from the single-device run, the shardings of params and optimizer state before and after the
step, and whether the input state was donated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

MESH_SHAPES = ((8, 1, 1), (2, 2, 2), (1, 4, 2))
LEARNING_RATE = 1e-3
NUM_STEPS = 2

# Tolerances against the single-device run; measured worst case over the 3 meshes in parentheses
# (jax 0.10.2, XLA CPU). Only float32 reduction order differs between the runs.
LOSS_ATOL = 2e-6  # losses ~4.1: a few float32 ulps (4.8e-7 = 1 ulp)
GRAD_NORM_ATOL = 2e-6  # grad norms ~1.4-2.2 (4.8e-7)
INIT_ATOL = 1e-6  # sharded init vs plain init (7.5e-9)
# mu and nu are linear / quadratic in the gradients, so no normalisation amplifies anything: per
# leaf, max |diff| relative to the leaf's max |value| (3.5e-5, up_kernel mu after 2 steps).
OPT_RTOL = 2e-4
# Params: Adam's first update is lr * g / (|g| + eps) with eps = 1e-8, so for the rare elements
# whose gradient is itself ~1e-8 (4e-9..4e-8 measured, ~10 of 150k) reduction-order noise of ~1e-9
# in g moves the update by a few percent of lr (2.7e-5 = 0.027 lr, gate_kernel). Every element must
# be within 0.1 lr, and all but at most 0.1% of each leaf's elements within 1e-3 lr (5.5e-7 for all
# but <= 3 elements per leaf). A real sharding bug (a missing reduction, a wrong shard) changes
# gradients at O(1): Adam then flips the sign of many updates (diffs ~lr) and the loss, grad norm
# and mu/nu checks fail by orders of magnitude.
PARAM_ATOL = 0.1 * LEARNING_RATE
PARAM_TIGHT_ATOL = 1e-3 * LEARNING_RATE
PARAM_LOOSE_FRACTION = 1e-3

# The parameters that DEFAULT_RULES split when fsdp or tensor > 1 (norm scales stay replicated);
# their Adam moments are split alike.
SPLIT_PARAMS = (
    "['embedding']",
    "['lm_head']",
    "['layers']['attention']['q_kernel']",
    "['layers']['attention']['k_kernel']",
    "['layers']['attention']['v_kernel']",
    "['layers']['attention']['o_kernel']",
    "['layers']['mlp']['gate_kernel']",
    "['layers']['mlp']['up_kernel']",
    "['layers']['mlp']['down_kernel']",
)
# step, 16 params, Adam count + 16 mu + 16 nu, the schedule count, rng
NUM_STATE_LEAVES = 52
Q_SHARD_SHAPES = {(8, 1, 1): [2, 64, 4, 32], (2, 2, 2): [2, 32, 2, 32], (1, 4, 2): [2, 16, 2, 32]}

_SCRIPT = textwrap.dedent("""
    import json, sys

    import jax
    import numpy as np

    from lumos_jax import layout, parallel, train, vocab as vocab_lib
    from lumos_jax.model import ModelConfig

    assert jax.device_count() == 8, jax.devices()
    mesh_shapes, lr, num_steps, tight = json.loads(sys.argv[1])
    vocab = vocab_lib.demo(codebook_size=64)
    config = ModelConfig(
        vocab_size=vocab.size, embed_dim=64, num_layers=2, num_heads=4, num_kv_heads=2,
        head_dim=32, mlp_dim=128,
    )
    optim = train.OptimConfig(learning_rate=lr, min_learning_rate=lr)
    tx = train.make_optimizer(optim)

    # 8 right-padded items: a short prompt and 1-2 frames of random codes (2x3 or 3x4 latents).
    rng = np.random.default_rng(0)
    items = []
    for b in range(8):
      h, w = (2, 3) if b % 2 else (3, 4)
      frames = [rng.integers(0, vocab.codebook_size, (h, w)) for _ in range(1 + b % 3 // 2)]
      text = rng.integers(vocab.byte_offset, vocab.byte_offset + 256, (1 + b % 3,))
      items.append(layout.build_item(text, frames, vocab, duration=1, fps=len(frames)))
    length = max(len(it.tokens) for it in items)
    tokens = np.full((8, length), vocab.pad, np.int32)
    labels = np.full((8, length), vocab_lib.IGNORE, np.int32)
    for b, it in enumerate(items):
      tokens[b, : len(it.tokens)] = it.tokens
      labels[b, : len(it.labels)] = it.labels
    batch = {'tokens': tokens, 'labels': labels}

    def settings_for(graphdef):
      return train.StepSettings(
          graphdef, config, tx, train.learning_rate_schedule(optim), vocab, train.ARDFConfig(),
          train.LossConfig(chunk_size=32, max_frames=4),
      )

    def flat(tree):
      return {jax.tree_util.keystr(p): x for p, x in jax.tree_util.tree_leaves_with_path(tree)}

    def host_copy(tree):
      # On CPU, device_get / np.asarray may alias the device buffer; an alias that stays alive
      # holds an external reference, which silently blocks donation. Keep only copies.
      return {k: np.array(x, copy=True) for k, x in flat(tree).items()}

    def spec_json(spec):
      return [e if e is None or isinstance(e, str) else list(e) for e in spec]

    def run_steps(step_fn, state, batch):
      losses, grad_norms, targets = [], [], []
      for _ in range(num_steps):
        state, metrics = step_fn(state, batch)
        losses.append(float(metrics['loss']))
        grad_norms.append(float(metrics['grad_norm']))
        targets.append(int(metrics['num_targets']))
      return state, losses, grad_norms, targets

    # Reference: no mesh, one device.
    graphdef, state, _ = train.create_train_state(config, tx, seed=0)
    init_params = host_copy(state.params)
    ref_init_leaf = state.params['lm_head'].get_value()
    state, ref_losses, ref_grad_norms, ref_targets = run_steps(
        train.compile_train_step(settings_for(graphdef)), state, batch
    )
    ref_params, ref_opt = host_copy(state.params), host_copy(state.opt_state)
    out = {
        'tokens_shape': list(tokens.shape),
        'num_pad': int((tokens == vocab.pad).sum()),
        'losses': ref_losses,
        'grad_norms': ref_grad_norms,
        'num_targets': ref_targets,
        'step': int(state.step),
        'init_donated': bool(ref_init_leaf.is_deleted()),
        # How far the params moved: the comparisons below must be small against this.
        'param_update_max': max(
            float(np.max(np.abs(ref_params[k] - init_params[k]))) for k in ref_params
        ),
        'opt_scales': {k: float(np.max(np.abs(x), initial=0.0)) for k, x in ref_opt.items()},
        'meshes': {},
    }

    def abs_diff(got, want, k):
      return np.abs(np.asarray(got[k], np.float64) - np.asarray(want[k], np.float64))

    def diffs(got, want):
      return {k: float(np.max(abs_diff(got, want, k))) for k in want}

    def loose_counts(got, want):  # elements further than `tight` from the reference, per leaf
      return {k: int(np.sum(abs_diff(got, want, k) > tight)) for k in want}

    for shape in mesh_shapes:
      mesh = parallel.make_mesh(shape)
      graphdef, state, shardings = train.create_train_state(config, tx, seed=0, mesh=mesh)
      step_fn = train.compile_train_step(settings_for(graphdef), mesh, shardings)
      sharded_batch = jax.device_put(batch, parallel.batch_sharding(mesh))
      want = flat(shardings)
      before = flat(state)
      mismatched_before = [
          k for k in want if not before[k].sharding.is_equivalent_to(want[k], before[k].ndim)
      ]
      init_leaf = state.params['layers']['attention']['q_kernel'].get_value()
      init_diff = max(diffs(host_copy(state.params), init_params).values())
      state, losses, grad_norms, targets = run_steps(step_fn, state, sharded_batch)
      after = flat(state)
      mismatched_after = [
          k for k in want if not after[k].sharding.is_equivalent_to(want[k], after[k].ndim)
      ]
      q = state.params['layers']['attention']['q_kernel'].get_value()
      split = sorted(k for k, x in after.items() if x.addressable_shards[0].data.shape != x.shape)
      q_mu = state.opt_state[1][0].mu['layers']['attention']['q_kernel'].get_value()
      out['meshes'][str(tuple(shape))] = {
          'mesh': dict(mesh.shape),
          'losses': losses,
          'grad_norms': grad_norms,
          'num_targets': targets,
          'step': int(state.step),
          'init_max_diff': init_diff,
          'param_diffs': diffs(host_copy(state.params), ref_params),
          'param_loose': loose_counts(host_copy(state.params), ref_params),
          'opt_diffs': diffs(host_copy(state.opt_state), ref_opt),
          'num_state_leaves': len(want),
          'mismatched_before': mismatched_before,
          'mismatched_after': mismatched_after,
          'split_leaves': split,
          'q_spec': spec_json(q.sharding.spec),
          'q_shard_shape': list(q.addressable_shards[0].data.shape),
          'q_mu_spec': spec_json(q_mu.sharding.spec),
          'q_mu_shard_shape': list(q_mu.addressable_shards[0].data.shape),
          'tokens_spec': spec_json(sharded_batch['tokens'].sharding.spec),
          'init_donated': bool(init_leaf.is_deleted()),
      }
    print(json.dumps(out))
    """)


def _run_script() -> dict[str, Any]:
  """Runs the script once for all meshes and returns its JSON report."""
  env = dict(os.environ)
  env['XLA_FLAGS'] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8".strip()
  env['JAX_PLATFORMS'] = 'cpu'
  args = json.dumps([MESH_SHAPES, LEARNING_RATE, NUM_STEPS, PARAM_TIGHT_ATOL])
  proc = subprocess.run(
      [sys.executable, '-c', _SCRIPT, args], env=env, capture_output=True, text=True, timeout=300
  )
  assert proc.returncode == 0, f'script failed ({proc.returncode}):\n{proc.stderr[-8000:]}'
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _param_size(name: str) -> int:
  v, e, n, k, d, m, l = 392, 64, 4, 2, 32, 128, 2  # demo(codebook_size=64) has 392 ids
  sizes = {
      'embedding': v * e,
      'lm_head': e * v,
      'final_norm': e,
      'input_norm': l * e,
      'post_attention_norm': l * e,
      'q_kernel': l * e * n * d,
      'k_kernel': l * e * k * d,
      'v_kernel': l * e * k * d,
      'o_kernel': l * n * d * e,
      'q_norm': l * d,
      'k_norm': l * d,
      'gate_kernel': l * e * m,
      'up_kernel': l * e * m,
      'down_kernel': l * m * e,
  }
  return next(size for key, size in sizes.items() if f"['{key}" in name)


def test_sharded_train_step_matches_single_device():
  report = _run_script()
  # The batch is padded, every step has targets, and the params moved far beyond the tolerance.
  assert report['tokens_shape'][0] == 8 and report['num_pad'] > 0
  assert report['step'] == NUM_STEPS
  assert all(t > 0 for t in report['num_targets'])
  assert report['param_update_max'] > 1.5 * LEARNING_RATE  # two Adam steps of ~lr each
  # Donation works on CPU: the input state's buffers are gone after the step.
  assert report['init_donated']
  assert sorted(report['meshes']) == sorted(str(s) for s in MESH_SHAPES)
  for shape in MESH_SHAPES:
    got = report['meshes'][str(shape)]
    where = f'mesh {shape}'
    assert got['mesh'] == dict(zip(('data', 'fsdp', 'tensor'), shape)), where
    assert got['init_max_diff'] <= INIT_ATOL, (where, got['init_max_diff'])

    # Same masks (num_targets), same losses and gradient norms at every step.
    assert got['step'] == NUM_STEPS, where
    assert got['num_targets'] == report['num_targets'], where
    for i, (a, b) in enumerate(zip(got['losses'], report['losses'])):
      assert abs(a - b) <= LOSS_ATOL, (where, 'loss', i, a, b)
    for i, (a, b) in enumerate(zip(got['grad_norms'], report['grad_norms'])):
      assert abs(a - b) <= GRAD_NORM_ATOL, (where, 'grad_norm', i, a, b)

    # Same updated params and optimizer state.
    assert len(got['param_diffs']) == 16, where
    for name, diff in got['param_diffs'].items():
      assert diff <= PARAM_ATOL, (where, name, diff)
      loose = got['param_loose'][name]
      assert loose <= PARAM_LOOSE_FRACTION * _param_size(name), (where, name, loose)
    assert sorted(got['opt_diffs']) == sorted(report['opt_scales'])
    for name, diff in got['opt_diffs'].items():
      assert diff <= OPT_RTOL * report['opt_scales'][name], (where, name, diff)

    # The state has the shardings of create_train_state before and after the steps (in and out
    # shardings honoured), and the input state was donated.
    assert got['num_state_leaves'] == NUM_STATE_LEAVES, where
    assert got['mismatched_before'] == [], where
    assert got['mismatched_after'] == [], where
    assert got['init_donated'], where
    assert got['tokens_spec'] == [['data', 'fsdp'], None], where
    # The split is real: on (8, 1, 1) (pure data parallel) everything is replicated; otherwise the
    # kernels, embedding and LM head and their Adam moments are split across devices.
    if shape[1] * shape[2] == 1:
      expected_split = []
    else:
      expected_split = sorted(
          f'{prefix}{name}.value'
          for name in SPLIT_PARAMS
          for prefix in ('.params', '.opt_state[1][0].mu', '.opt_state[1][0].nu')
      )
    assert got['split_leaves'] == expected_split, where
    assert got['q_spec'] == [None, 'fsdp', 'tensor', None], where
    assert got['q_mu_spec'] == [None, 'fsdp', 'tensor', None], where
    assert got['q_shard_shape'] == Q_SHARD_SHAPES[shape], where
    assert got['q_mu_shard_shape'] == Q_SHARD_SHAPES[shape], where
