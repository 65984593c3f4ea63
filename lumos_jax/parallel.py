# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Device mesh, logical-axis rules and sharding helpers.

Parameters and activations carry logical axis names; one rules table maps them to the mesh axes
('data', 'fsdp', 'tensor'), plus 'context' on meshes made with context parallelism (`make_mesh(...,
context=C)`: every sequence split into C pieces; model/attention.py gathers keys and values).
Weight dims and activation dims have separate names (`embed` vs `act_embed`) because FSDP shards
the weights' embed dim but not the activations'. A rule naming an axis that the mesh lacks (e.g.
'context' on a mesh without it) leaves that dimension replicated.
`initialize_distributed` starts jax.distributed for multi-process runs (explicit flags, SLURM or
TPU environment).
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any, Iterator, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

MESH_AXES = ('data', 'fsdp', 'tensor')
BATCH_AXES = ('data', 'fsdp')
CONTEXT_AXIS = 'context'  # only on meshes with context parallelism, between fsdp and tensor

LogicalRules = Sequence[tuple[str, Any]]

DEFAULT_RULES: LogicalRules = (
    # activations
    ('act_batch', BATCH_AXES),
    ('act_length', CONTEXT_AXIS),
    ('act_embed', None),
    ('act_heads', 'tensor'),
    ('act_kv_heads', 'tensor'),
    ('act_mlp', 'tensor'),
    ('act_vocab', 'tensor'),
    # weights
    ('layers', None),
    ('vocab', 'tensor'),
    ('embed', ('fsdp', CONTEXT_AXIS)),  # FSDP; with context parallelism over both axes
    ('heads', 'tensor'),
    ('kv_heads', 'tensor'),
    ('mlp', 'tensor'),
    ('head_dim', None),
    ('norm', None),
    ('qk_norm', None),
    # KV cache
    ('cache_batch', BATCH_AXES),
    ('cache_length', None),
    ('cache_kv_heads', 'tensor'),
)

_rules_stack: list[LogicalRules] = [DEFAULT_RULES]


@contextlib.contextmanager
def axis_rules(rules: LogicalRules) -> Iterator[None]:
  """Temporarily replaces the logical-axis rules."""
  _rules_stack.append(tuple(rules))
  try:
    yield
  finally:
    _rules_stack.pop()


def current_rules() -> LogicalRules:
  return _rules_stack[-1]


def make_mesh(
    shape: Sequence[int] = (-1, 1, 1), devices=None, context: int = 1
) -> jax.sharding.Mesh:
  """Mesh over ('data', 'fsdp', 'tensor'), or ('data', 'fsdp', 'context', 'tensor') when
  `context` > 1; a single -1 in `shape` is filled with the remaining devices."""
  devices = jax.devices() if devices is None else devices
  if not isinstance(context, (int, np.integer)) or context < 1:
    raise ValueError(f'mesh.context={context!r}: expected a positive int')
  if len(devices) % context:
    raise ValueError(f'mesh.context={context} does not divide {len(devices)} devices')
  available = len(devices) // context  # devices for data x fsdp x tensor
  shape = list(shape)
  if len(shape) != 3:
    raise ValueError(f'mesh.shape must have 3 entries (data, fsdp, tensor), got {tuple(shape)}')
  if any(not isinstance(s, (int, np.integer)) or (s < 1 and s != -1) for s in shape):
    raise ValueError(f'mesh.shape entries must be positive ints or -1, got {tuple(shape)}')
  if shape.count(-1) > 1:
    raise ValueError(f'mesh.shape may contain at most one -1, got {tuple(shape)}')
  known = math.prod(s for s in shape if s != -1)
  per_context = f' / context {context}' if context > 1 else ''
  if -1 in shape:
    if available % known:
      raise ValueError(
          f'mesh.shape {tuple(shape)} does not divide {len(devices)} devices{per_context}'
      )
    shape[shape.index(-1)] = available // known
  if math.prod(shape) != available:
    raise ValueError(
        f'mesh.shape {tuple(shape)} needs {math.prod(shape)} devices, have '
        f'{len(devices)}{per_context}'
    )
  axes = MESH_AXES
  if context > 1:
    shape.insert(2, context)
    axes = (*BATCH_AXES, CONTEXT_AXIS, 'tensor')
  return jax.make_mesh(
      tuple(shape), axes, axis_types=(jax.sharding.AxisType.Auto,) * len(axes), devices=devices
  )


def logical_to_spec(
    logical_axes: Sequence[str | None],
    shape: Sequence[int] | None = None,
    mesh: Any = None,
    rules: LogicalRules | None = None,
) -> P:
  """PartitionSpec for an array with the given logical axis names.

  A mesh axis is used at most once; when `shape` and `mesh` are given, a dim that the mapped mesh
  axes do not divide is left replicated (e.g. 2 KV heads on a tensor axis of 4).
  """
  if shape is not None and len(shape) != len(logical_axes):
    raise ValueError(
        f'logical axes {tuple(logical_axes)} do not match an array of shape {tuple(shape)}'
    )
  table: dict[str, Any] = {}
  for name, target in current_rules() if rules is None else rules:
    table.setdefault(name, target)  # first match wins, as in flax's logical_axis_rules
  used: set[str] = set()
  spec = []
  for dim, name in enumerate(logical_axes):
    target = table.get(name) if name is not None else None
    axes = () if target is None else ((target,) if isinstance(target, str) else tuple(target))
    axes = tuple(a for a in axes if a not in used and (mesh is None or a in mesh.axis_names))
    if axes and shape is not None and mesh is not None:
      size = math.prod(mesh.shape[a] for a in axes)
      if shape[dim] % size:
        axes = ()
    used.update(axes)
    spec.append(None if not axes else axes[0] if len(axes) == 1 else axes)
  return P(*spec)


def constrain(x: jax.Array, logical_axes: Sequence[str | None]) -> jax.Array:
  """Sharding constraint from logical names; a no-op outside a mesh context."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty:
    return x
  return jax.lax.with_sharding_constraint(x, logical_to_spec(logical_axes, x.shape, mesh))


def _variable_axes(variable: nnx.Variable) -> tuple[str | None, ...]:
  axes = variable.get_metadata().get('out_sharding')
  if axes is None:
    return (None,) * np.ndim(variable.get_value())
  return tuple(axes)


def state_shardings(state: Any, mesh: jax.sharding.Mesh) -> Any:
  """NamedShardings for an (abstract) pytree from its NNX variables' logical axis metadata.

  Works on model states and on optimizer states built from them (optax keeps the variables);
  leaves that are not variables (step counters, RNG keys) are replicated.
  """

  def one(leaf):
    if not isinstance(leaf, nnx.Variable):
      return NamedSharding(mesh, P())
    value = leaf.get_value()
    spec = logical_to_spec(_variable_axes(leaf), value.shape, mesh)
    return leaf.replace(NamedSharding(mesh, spec))

  return jax.tree.map(one, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def batch_sharding(mesh: jax.sharding.Mesh, ndim: int = 2) -> NamedSharding:
  """Sharding of a [B, ...] input batch: batch over ('data', 'fsdp'), the rest replicated."""
  return NamedSharding(mesh, P(BATCH_AXES, *([None] * (ndim - 1))))


# -----------------------------------------------------------------------------------------------
# Multi-process initialisation
# -----------------------------------------------------------------------------------------------


def _slurm_multi_task() -> bool:
  """Inside an `srun` step with more than one task (what jax's SLURM detection reads)."""
  env = os.environ
  return 'SLURM_STEP_NODELIST' in env and int(env.get('SLURM_NTASKS', '1')) > 1


def _tpu_multi_worker() -> bool:
  """A multi-host Cloud TPU slice (GKE / queued resources set these; TPU VM pods: tpu_pod.sh)."""
  hosts = os.environ.get('TPU_WORKER_HOSTNAMES', '')
  return ',' in hosts or bool(os.environ.get('MEGASCALE_COORDINATOR_ADDRESS'))


def initialize_distributed(
    mode: str = 'auto',
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: Sequence[int] | None = None,
) -> bool:
  """Initialises `jax.distributed` for a multi-process run; returns whether it did.

  Must run before anything touches a jax backend. Decision order:
    1. `mode='off'`: never (one process, its local devices).
    2. explicit arguments (`coordinator_address` with `num_processes` and `process_id`): used as
       given (local_multiprocess.sh, hand-written launchers).
    3. `mode='on'`: `jax.distributed.initialize()` auto-detects the cluster (SLURM, Cloud TPU,
       Open MPI, Kubernetes) and fails loudly if there is none (tpu_pod.sh passes this).
    4. `mode='auto'`: as 3 when the environment shows a multi-process job: an `srun` step with
       SLURM_NTASKS > 1, or a multi-worker TPU slice; otherwise single-process.

  CPU collectives across processes use gloo (the default CPU client has none); the setting only
  affects the CPU backend, so it is harmless on GPU/TPU.
  """
  if mode not in ('auto', 'on', 'off'):
    raise ValueError(f"distributed mode {mode!r}: expected 'auto', 'on' or 'off'")
  if mode == 'off':
    return False
  explicit = (coordinator_address, num_processes, process_id)
  if any(v is not None for v in explicit) and any(v is None for v in explicit):
    raise ValueError(
        'give all of coordinator_address, num_processes and process_id, or none '
        f'(got {coordinator_address!r}, {num_processes!r}, {process_id!r})'
    )
  if (
      coordinator_address is None
      and mode == 'auto'
      and not (_slurm_multi_task() or _tpu_multi_worker())
  ):
    return False
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  kwargs = {}
  if local_device_ids is not None:
    kwargs['local_device_ids'] = list(local_device_ids)
  jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)
  return True
