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

_SCRIPT = textwrap.dedent(
    """
    import json, sys

    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec as P

    from lumos_jax import layout, parallel, train, vocab as vocab_lib
    from lumos_jax.model import ModelConfig

    assert jax.device_count() == 8, jax.devices()
    mesh_shapes, lr, num_steps = json.loads(sys.argv[1])
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
    init_params = flat(jax.device_get(state.params))
    ref_init_leaf = state.params['lm_head'].get_value()
    state, ref_losses, ref_grad_norms, ref_targets = run_steps(
        train.compile_train_step(settings_for(graphdef)), state, batch
    )
    ref = jax.device_get(state)
    ref_params, ref_opt = flat(ref.params), flat(ref.opt_state)
    out = {
        'tokens_shape': list(tokens.shape),
        'num_pad': int((tokens == vocab.pad).sum()),
        'losses': ref_losses,
        'grad_norms': ref_grad_norms,
        'num_targets': ref_targets,
        'step': int(ref.step),
        'init_donated': bool(ref_init_leaf.is_deleted()),
        # How far the params moved: the comparisons below must be small against this.
        'param_update_max': max(
            float(np.max(np.abs(ref_params[k] - init_params[k]))) for k in ref_params
        ),
        'meshes': {},
    }

    def diffs(got, want):
      return {k: float(np.max(np.abs(np.asarray(got[k], np.float64) - want[k]))) for k in want}

    for shape in mesh_shapes:
      mesh = parallel.make_mesh(shape)
      graphdef, state, shardings = train.create_train_state(config, tx, seed=0, mesh=mesh)
      step_fn = train.compile_train_step(settings_for(graphdef), mesh, shardings)
      sharded_batch = jax.device_put(batch, parallel.batch_sharding(mesh))
      want = flat(shardings)
      before = flat(state)
      init_leaf = state.params['layers']['attention']['q_kernel'].get_value()
      init_diff = max(diffs(jax.device_get(flat(state.params)), init_params).values())
      state, losses, grad_norms, targets = run_steps(step_fn, state, sharded_batch)
      after = flat(state)
      # Every leaf of the state keeps its intended sharding (in and out shardings honoured).
      mismatched_before = [k for k in want if not before[k].sharding.is_equivalent_to(
          want[k], before[k].ndim)]
      mismatched_after = [k for k in want if not after[k].sharding.is_equivalent_to(
          want[k], after[k].ndim)]
      host = jax.device_get(state)
      q = state.params['layers']['attention']['q_kernel'].get_value()
      split = sorted(k for k, x in after.items() if x.addressable_shards[0].data.shape != x.shape)
      q_mu = state.opt_state[1][0].mu['layers']['attention']['q_kernel'].get_value()
      out['meshes'][str(tuple(shape))] = {
          'mesh': dict(mesh.shape),
          'losses': losses,
          'grad_norms': grad_norms,
          'num_targets': targets,
          'step': int(host.step),
          'init_max_diff': init_diff,
          'param_diffs': diffs(flat(host.params), ref_params),
          'opt_diffs': diffs(flat(host.opt_state), ref_opt),
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
    """
)


def _run_script() -> dict[str, Any]:
  env = dict(os.environ)
  env['XLA_FLAGS'] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8".strip()
  env['JAX_PLATFORMS'] = 'cpu'
  args = json.dumps([MESH_SHAPES, LEARNING_RATE, NUM_STEPS])
  proc = subprocess.run(
      [sys.executable, '-c', _SCRIPT, args], env=env, capture_output=True, text=True, timeout=300
  )
  assert proc.returncode == 0, f'script failed ({proc.returncode}):\n{proc.stderr[-8000:]}'
  return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == '__main__':
  print(json.dumps(_run_script(), indent=1))
