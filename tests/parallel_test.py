# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Tests of lumos_jax.parallel: mesh construction, logical-axis rules and a sharded model.

The multi-device checks run a script in a subprocess with 8 fake CPU devices, because XLA_FLAGS
must be set before jax is imported and this process has already imported it. The script reports
facts as JSON; the expected parameter shardings are written out here by hand from the rules table.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import textwrap
from typing import Any

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import AbstractMesh, PartitionSpec as P

from lumos_jax import parallel

# -----------------------------------------------------------------------------------------------
# make_mesh (single device, in process)
# -----------------------------------------------------------------------------------------------


def test_make_mesh_default_fills_data_axis():
  mesh = parallel.make_mesh()
  assert mesh.axis_names == ('data', 'fsdp', 'tensor')
  assert dict(mesh.shape) == {'data': len(jax.devices()), 'fsdp': 1, 'tensor': 1}


@pytest.mark.parametrize(
    'shape, message',
    [
        ((1, 1), 'must have 3 entries'),
        ((1, 1, 1, 1), 'must have 3 entries'),
        ((-1, -1, 1), 'at most one -1'),
        ((-1, 1, -1), 'at most one -1'),
        ((0, -1, 1), 'positive ints or -1'),
        ((-2, 1, 1), 'positive ints or -1'),
        ((2, 2, 2), 'needs 8 devices, have 1'),
        ((1, 1, 3), 'needs 3 devices, have 1'),
    ],
)
def test_make_mesh_rejects_bad_shapes(shape, message):
  with pytest.raises(ValueError, match=message):
    parallel.make_mesh(shape)


def test_make_mesh_minus_one_must_divide_devices():
  devices = jax.devices()[:1] * 4  # only counted: the error comes before any mesh is built
  with pytest.raises(ValueError, match=r'\(3, -1, 1\) does not divide 4 devices'):
    parallel.make_mesh((3, -1, 1), devices=devices)


# -----------------------------------------------------------------------------------------------
# logical_to_spec (abstract meshes, in process)
# -----------------------------------------------------------------------------------------------

MESH_222 = AbstractMesh((2, 2, 2), ('data', 'fsdp', 'tensor'))
MESH_124 = AbstractMesh((1, 2, 4), ('data', 'fsdp', 'tensor'))
MESH_811 = AbstractMesh((8, 1, 1), ('data', 'fsdp', 'tensor'))


def test_default_rules_for_weights():
  spec = functools.partial(parallel.logical_to_spec, mesh=MESH_222)
  assert spec(('layers', 'embed', 'heads', 'head_dim')) == P(None, 'fsdp', 'tensor', None)
  assert spec(('layers', 'embed', 'kv_heads', 'head_dim')) == P(None, 'fsdp', 'tensor', None)
  assert spec(('layers', 'heads', 'head_dim', 'embed')) == P(None, 'tensor', None, 'fsdp')
  assert spec(('layers', 'mlp', 'embed')) == P(None, 'tensor', 'fsdp')
  assert spec(('vocab', 'embed')) == P('tensor', 'fsdp')
  assert spec(('embed', 'vocab')) == P('fsdp', 'tensor')
  assert spec(('layers', 'norm')) == P(None, None)
  assert spec(('layers', 'qk_norm', 'head_dim')) == P(None, None, None)


def test_default_rules_for_activations_and_cache():
  spec = functools.partial(parallel.logical_to_spec, mesh=MESH_222)
  assert spec(('act_batch', 'act_length', 'act_embed')) == P(('data', 'fsdp'), None, None)
  assert spec(('act_batch', 'act_length', 'act_vocab')) == P(('data', 'fsdp'), None, 'tensor')
  assert spec(('cache_batch', 'cache_length', 'cache_kv_heads', 'head_dim')) == P(
      ('data', 'fsdp'), None, 'tensor', None
  )


def test_context_parallel_rules():
  """With a 'context' axis: activations split their length over it, FSDP-split weights use it
  too; without one (the meshes above) both rules fall back to the axes the mesh has."""
  mesh = AbstractMesh((1, 2, 2, 2), ('data', 'fsdp', 'context', 'tensor'))
  spec = functools.partial(parallel.logical_to_spec, mesh=mesh)
  assert spec(('act_batch', 'act_length', 'act_embed')) == P(('data', 'fsdp'), 'context', None)
  assert spec(('layers', 'embed', 'heads', 'head_dim')) == P(
      None, ('fsdp', 'context'), 'tensor', None
  )
  assert spec(('act_batch', 'act_length'), mesh=MESH_222) == P(('data', 'fsdp'), None)


def test_mesh_axis_used_at_most_once():
  rules = (('a', 'tensor'), ('b', 'tensor'), ('x', ('data', 'fsdp')), ('y', ('fsdp', 'tensor')))
  spec = parallel.logical_to_spec
  assert spec(('a', 'b'), rules=rules) == P('tensor', None)
  assert spec(('b', 'a'), rules=rules) == P('tensor', None)
  # Only the still-free part of a multi-axis target is used.
  assert spec(('x', 'y'), rules=rules) == P(('data', 'fsdp'), 'tensor')
  assert spec(('a', 'y'), rules=rules) == P('tensor', 'fsdp')
  assert spec(('x', 'y', 'a'), rules=rules) == P(('data', 'fsdp'), 'tensor', None)
  # Default rules: both batch-like names map to ('data', 'fsdp'); the second gets nothing.
  assert parallel.logical_to_spec(('act_batch', 'cache_batch')) == P(('data', 'fsdp'), None)


def test_non_divisible_dims_are_replicated():
  spec = parallel.logical_to_spec
  k_axes = ('layers', 'embed', 'kv_heads', 'head_dim')
  # 2 KV heads on a tensor axis of 4: replicated; q heads (4) are still split.
  assert spec(k_axes, (2, 64, 2, 32), MESH_124) == P(None, 'fsdp', None, None)
  assert spec(('layers', 'embed', 'heads', 'head_dim'), (2, 64, 4, 32), MESH_124) == P(
      None, 'fsdp', 'tensor', None
  )
  assert spec(k_axes, (2, 64, 2, 32), MESH_222) == P(None, 'fsdp', 'tensor', None)
  # An odd embed dim is not split over fsdp=2; the vocab dim still is over tensor.
  assert spec(('vocab', 'embed'), (840, 63), MESH_222) == P('tensor', None)
  # A batch of 4 cannot be split 8 ways (data * fsdp); 8 can.
  batch_axes = ('act_batch', 'act_length', 'act_vocab')
  assert spec(batch_axes, (4, 35, 840), MESH_811) == P(None, None, 'tensor')
  assert spec(batch_axes, (8, 35, 840), MESH_811) == P(('data', 'fsdp'), None, 'tensor')
  assert spec(batch_axes, (6, 35, 840), MESH_222) == P(None, None, 'tensor')
  # Without both shape and mesh there is no divisibility check (and without a mesh, every axis
  # a rule names is kept, 'context' included).
  assert spec(k_axes, (2, 64, 2, 32)) == P(None, ('fsdp', 'context'), 'tensor', None)
  assert spec(k_axes, mesh=MESH_124) == P(None, 'fsdp', 'tensor', None)


def test_replicated_dim_leaves_its_mesh_axis_free():
  rules = (('a', 'tensor'), ('b', 'tensor'))
  mesh = AbstractMesh((1, 1, 2), ('data', 'fsdp', 'tensor'))
  assert parallel.logical_to_spec(('a', 'b'), (3, 4), mesh, rules) == P(None, 'tensor')
  assert parallel.logical_to_spec(('a', 'b'), (4, 4), mesh, rules) == P('tensor', None)


def test_unknown_and_none_names_are_replicated():
  spec = functools.partial(parallel.logical_to_spec, mesh=MESH_222)
  assert spec(('no_such_axis', 'embed')) == P(None, 'fsdp')
  assert spec((None, 'heads', None)) == P(None, 'tensor', None)
  assert spec(('heads',), rules=(('heads', None),)) == P(None)
  assert spec(()) == P()


def test_rank_mismatch_is_an_error():
  with pytest.raises(ValueError, match=r"logical axes \('embed',\) do not match .* \(4, 4\)"):
    parallel.logical_to_spec(('embed',), (4, 4), MESH_222)


def test_axis_rules_context_overrides_and_restores():
  with parallel.axis_rules((('embed', 'tensor'),)):
    assert parallel.logical_to_spec(('embed', 'heads')) == P('tensor', None)
  assert parallel.logical_to_spec(('embed', 'heads'), mesh=MESH_222) == P('fsdp', 'tensor')
  with pytest.raises(RuntimeError):
    with parallel.axis_rules(()):
      raise RuntimeError
  assert parallel.current_rules() is parallel.DEFAULT_RULES


def test_constrain_is_a_no_op_without_mesh():
  x = jnp.ones((2, 3, 4))
  assert parallel.constrain(x, ('act_batch', 'act_length', 'act_embed')) is x


# -----------------------------------------------------------------------------------------------
# Sharded model on 8 fake CPU devices (subprocess)
# -----------------------------------------------------------------------------------------------

MESH_SHAPES = ((2, 2, 2), (1, 4, 2), (8, 1, 1), (1, 2, 4))
DEMO_VOCAB_SIZE = 840  # lumos_jax.vocab.demo(): 8 specials + 64 grid + 256 bytes + 512 codes

_SCRIPT = textwrap.dedent("""
    import json, sys

    import jax
    import numpy as np
    from flax import nnx

    from lumos_jax import layout, parallel, vocab as vocab_lib
    from lumos_jax.model import (ModelConfig, create_model, create_sharded_model, logits,
                                 prepare_inputs)

    assert jax.device_count() == 8, jax.devices()
    vocab = vocab_lib.demo()
    config = ModelConfig(
        vocab_size=vocab.size, embed_dim=64, num_layers=2, num_heads=4, num_kv_heads=2,
        head_dim=32, mlp_dim=128,
    )

    # 8 right-padded items (prompt + 1-2 frames of random codes); logits() gets the first 4.
    rng = np.random.default_rng(0)
    items = []
    for b in range(8):
      frames = [rng.integers(0, vocab.codebook_size, (2, 3)) for _ in range(1 + b % 2)]
      text = rng.integers(vocab.byte_offset, vocab.byte_offset + 256, (1 + b % 3,))
      items.append(layout.build_item(text, frames, vocab, duration=1, fps=len(frames)).tokens)
    tokens = np.full((8, max(len(t) for t in items)), vocab.pad, np.int32)
    for b, t in enumerate(items):
      tokens[b, : len(t)] = t

    init_model = create_model(config, seed=0)
    init_state = nnx.state(init_model)
    init_logits = np.asarray(logits(init_model, tokens, vocab))

    def spec_json(spec):
      return [e if e is None or isinstance(e, str) else list(e) for e in spec]

    def sharding_json(x):
      return {
          'spec': spec_json(x.sharding.spec),
          'shard_shape': list(x.addressable_shards[0].data.shape),
          'mesh': dict(x.sharding.mesh.shape),
      }

    def max_diff(a, b):
      return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))

    out = {
        'vocab_size': vocab.size,
        'tokens_shape': list(tokens.shape),
        'logits_std': float(np.std(init_logits)),
        'num_pad': int((tokens == vocab.pad).sum()),
        'auto_mesh': dict(parallel.make_mesh((-1, 2, 2)).shape),
        'meshes': {},
    }
    for shape in json.loads(sys.argv[1]):
      mesh = parallel.make_mesh(shape)
      model = create_sharded_model(config, mesh, seed=0)
      graphdef, state = nnx.split(model)
      params = {}
      for path, var in nnx.to_flat_state(state):
        value = var.get_value()
        params['/'.join(map(str, path))] = {'shape': list(value.shape), **sharding_json(value)}
      host_state = jax.device_get(state)
      init_diff = max(
          max_diff(a, b) for a, b in zip(jax.tree.leaves(host_state), jax.tree.leaves(init_state))
      )
      # Reference: the same parameters on one device, no mesh.
      single = nnx.merge(graphdef, jax.device_put(host_state, jax.devices()[0]))
      ref_logits = np.asarray(logits(single, tokens, vocab))
      assert not isinstance(single.lm_head.get_value().sharding, jax.sharding.NamedSharding)

      # Public entry point on the first 4 rows, with the activation constraints active.
      with jax.set_mesh(mesh):
        logits4 = logits(model, tokens[:4], vocab)
      # Jitted forward on all 8 rows with batch-sharded inputs.
      inputs = prepare_inputs(tokens, vocab, config)
      inputs = jax.tree.map(
          lambda x: jax.device_put(x, parallel.batch_sharding(mesh, x.ndim)), inputs
      )

      @jax.jit
      def run(state, inputs):
        model = nnx.merge(graphdef, state)
        hidden, _ = model(inputs)
        return model.logits(hidden)

      with jax.set_mesh(mesh):
        logits8 = run(state, inputs)
      out['meshes'][str(tuple(shape))] = {
          'mesh': dict(mesh.shape),
          'params': params,
          'init_max_diff': init_diff,
          'logits4': {'max_diff': max_diff(logits4, ref_logits[:4]), **sharding_json(logits4)},
          'tokens8': sharding_json(inputs.tokens),
          'cos8': sharding_json(inputs.cos),
          'logits8': {'max_diff': max_diff(logits8, ref_logits), **sharding_json(logits8)},
      }
    print(json.dumps(out))
    """)


def _run_sharded_script() -> dict[str, Any]:
  """Runs the script once on all meshes and returns its JSON report."""
  env = dict(os.environ)
  env['XLA_FLAGS'] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8".strip()
  env['JAX_PLATFORMS'] = 'cpu'
  proc = subprocess.run(
      [sys.executable, '-c', _SCRIPT, json.dumps(MESH_SHAPES)],
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert proc.returncode == 0, f'script failed ({proc.returncode}):\n{proc.stderr[-8000:]}'
  return json.loads(proc.stdout.strip().splitlines()[-1])


def _expected_param_specs() -> dict[str, P]:
  """What DEFAULT_RULES give each parameter when every split dim is divisible."""
  return {
      'embedding': P('tensor', 'fsdp'),  # [vocab, embed]
      'lm_head': P('fsdp', 'tensor'),  # [embed, vocab]
      'final_norm/scale': P(None),
      'layers/input_norm/scale': P(None, None),  # [layers, embed]
      'layers/post_attention_norm/scale': P(None, None),
      'layers/attention/q_kernel': P(None, 'fsdp', 'tensor', None),  # [L, embed, heads, hd]
      'layers/attention/k_kernel': P(None, 'fsdp', 'tensor', None),  # [L, embed, kv_heads, hd]
      'layers/attention/v_kernel': P(None, 'fsdp', 'tensor', None),
      'layers/attention/o_kernel': P(None, 'tensor', None, 'fsdp'),  # [L, heads, hd, embed]
      'layers/attention/q_norm_scale': P(None, None, None),  # [L, groups, hd]
      'layers/attention/q_norm_bias': P(None, None, None),
      'layers/attention/k_norm_scale': P(None, None, None),
      'layers/attention/k_norm_bias': P(None, None, None),
      'layers/mlp/gate_kernel': P(None, 'fsdp', 'tensor'),  # [L, embed, mlp]
      'layers/mlp/up_kernel': P(None, 'fsdp', 'tensor'),
      'layers/mlp/down_kernel': P(None, 'tensor', 'fsdp'),  # [L, mlp, embed]
  }


def _expected_shapes() -> dict[str, tuple[int, ...]]:
  v, e, n, k, d, m, l = DEMO_VOCAB_SIZE, 64, 4, 2, 32, 128, 2
  return {
      'embedding': (v, e),
      'lm_head': (e, v),
      'final_norm/scale': (e,),
      'layers/input_norm/scale': (l, e),
      'layers/post_attention_norm/scale': (l, e),
      'layers/attention/q_kernel': (l, e, n, d),
      'layers/attention/k_kernel': (l, e, k, d),
      'layers/attention/v_kernel': (l, e, k, d),
      'layers/attention/o_kernel': (l, n, d, e),
      'layers/attention/q_norm_scale': (l, 1, d),
      'layers/attention/q_norm_bias': (l, 1, d),
      'layers/attention/k_norm_scale': (l, 1, d),
      'layers/attention/k_norm_bias': (l, 1, d),
      'layers/mlp/gate_kernel': (l, e, m),
      'layers/mlp/up_kernel': (l, e, m),
      'layers/mlp/down_kernel': (l, m, e),
  }


def _spec_json(spec: P) -> list:
  return [e if e is None or isinstance(e, str) else list(e) for e in spec]


def _effective(spec: list, mesh: dict[str, int]) -> list:
  """A JSON spec without size-1 mesh axes or trailing Nones, as XLA writes inferred shardings."""
  out = []
  for entry in spec:
    axes = [
        a
        for a in ([] if entry is None else [entry] if isinstance(entry, str) else entry)
        if mesh[a] > 1
    ]
    out.append(None if not axes else axes[0] if len(axes) == 1 else axes)
  while out and out[-1] is None:
    out.pop()
  return out


def _shard_shape(shape: tuple[int, ...], spec: P, mesh: dict[str, int]) -> list[int]:
  out = []
  for size, entry in zip(shape, spec):
    axes = () if entry is None else (entry,) if isinstance(entry, str) else entry
    out.append(size // math.prod(mesh[a] for a in axes))
  return out


def _check_params(sharded_run: dict[str, Any]) -> None:
  """Parameter shapes, specs and per-device shard shapes against the hand-written rules."""
  assert sharded_run['vocab_size'] == DEMO_VOCAB_SIZE
  assert sharded_run['auto_mesh'] == {'data': 2, 'fsdp': 2, 'tensor': 2}
  shapes = _expected_shapes()
  for mesh_shape in MESH_SHAPES:
    report = sharded_run['meshes'][str(mesh_shape)]
    mesh = dict(zip(('data', 'fsdp', 'tensor'), mesh_shape))
    assert report['mesh'] == mesh
    expected = _expected_param_specs()
    if mesh['tensor'] == 4:  # 2 KV heads cannot be split 4 ways
      expected['layers/attention/k_kernel'] = P(None, 'fsdp', None, None)
      expected['layers/attention/v_kernel'] = P(None, 'fsdp', None, None)
    assert sorted(report['params']) == sorted(expected)
    for name, spec in expected.items():
      got = report['params'][name]
      where = f'{name} on mesh {mesh_shape}'
      assert got['shape'] == list(shapes[name]), where
      assert got['spec'] == _spec_json(spec), where
      assert got['mesh'] == mesh, where
      assert got['shard_shape'] == _shard_shape(shapes[name], spec, mesh), where
    # Sharded init reproduces create_model's init (up to float rounding of the fused init).
    assert report['init_max_diff'] <= 1e-6, mesh_shape
  # The split is real, e.g. q_kernel [2, 64, 4, 32] on (2, 2, 2) is [2, 32, 2, 32] per device.
  q = sharded_run['meshes']['(2, 2, 2)']['params']['layers/attention/q_kernel']
  assert q['shard_shape'] == [2, 32, 2, 32]
  emb = sharded_run['meshes']['(1, 4, 2)']['params']['embedding']
  assert emb['shard_shape'] == [DEMO_VOCAB_SIZE // 2, 16]


def _check_forward(sharded_run: dict[str, Any]) -> None:
  """Sharded logits equal the single-device ones and carry the activation shardings."""
  batch, length = sharded_run['tokens_shape']
  assert batch == 8 and sharded_run['num_pad'] > 0  # some rows are really padded
  assert sharded_run['logits_std'] > 0.05  # so that the 1e-5 tolerance is meaningful
  for mesh_shape in MESH_SHAPES:
    report = sharded_run['meshes'][str(mesh_shape)]
    mesh = report['mesh']
    data_fsdp = mesh['data'] * mesh['fsdp']
    for key, rows in (('logits4', 4), ('logits8', 8)):
      got = report[key]
      where = f'{key} on mesh {mesh_shape}'
      assert got['max_diff'] <= 1e-5, (where, got['max_diff'])
      # The activation constraint: batch over (data, fsdp) when divisible, vocab over tensor.
      batch_entry = ['data', 'fsdp'] if rows % data_fsdp == 0 else None
      expected_spec = _effective([batch_entry, None, 'tensor'], mesh)
      assert _effective(got['spec'], mesh) == expected_spec, where
      batch_shard = rows // data_fsdp if batch_entry else rows
      expected_shard = [batch_shard, length, DEMO_VOCAB_SIZE // mesh['tensor']]
      assert got['shard_shape'] == expected_shard, where
    # Inputs of the jitted forward were batch sharded.
    assert report['tokens8']['spec'] == [['data', 'fsdp'], None]
    assert report['tokens8']['shard_shape'] == [8 // data_fsdp, length]
    assert report['cos8']['spec'] == [['data', 'fsdp'], None, None]


def test_sharded_model_on_8_devices():
  # One test (not two sharing a fixture) so that pytest-xdist never runs the script twice.
  sharded_run = _run_sharded_script()
  _check_params(sharded_run)
  _check_forward(sharded_run)
