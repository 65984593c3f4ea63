# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Orbax checkpoints of a training run: train state, data iterator state and config.

A workdir's `checkpoints/<step>/` holds three items:
  state   the `TrainState` pytree (step, params, optimizer state, RNG key), sharded arrays;
  data    the grain iterator state, one JSON file per process (`process_<i>-of-<n>.json`);
  config  the run's config as JSON (for reading a checkpoint without its workdir).

Saves are asynchronous (the arrays are copied to host before `save` returns, so the next
step may donate them) and atomic: Orbax writes into a temporary directory and renames it when
every item of every process is written, so a run killed mid-save leaves no half checkpoint
behind (the temporary directory is removed by the next run). `max_to_keep` older ones are kept.

Restoring reads the state into the shardings of the current mesh, so a run saved on 8 devices
resumes on 4 or 1. When the newest checkpoint cannot be read (files deleted, truncated, ...) the
error is logged and the previous one is tried.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Sequence

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from etils import epath
from flax import nnx

STATE, DATA, CONFIG = 'state', 'data', 'config'


@dataclasses.dataclass
class Restored:
  """What `Checkpointer.restore` found."""

  step: int
  state: Any
  data_restored: bool  # False when the iterator state is missing for this process layout
  config: dict | None
  skipped: list[tuple[int, str]]  # newer checkpoints that failed to restore: (step, error)


def _data_file(directory: epath.Path) -> epath.Path:
  """The iterator state file of this process (the grain handler's naming)."""
  return directory / f'process_{jax.process_index()}-of-{jax.process_count()}.json'


class Checkpointer:
  """An `ocp.CheckpointManager` over the three items above."""

  def __init__(
      self, directory: str | os.PathLike, *, max_to_keep: int = 3, async_save: bool = True
  ):
    if max_to_keep < 1:
      raise ValueError(f'checkpoint.max_to_keep={max_to_keep}: must be >= 1')
    # Absolute: Orbax's tensorstore writer rejects relative paths (in the background thread of
    # an asynchronous save, where the error would only surface at the next save).
    self.directory = epath.Path(os.path.abspath(directory))
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep,
        enable_async_checkpointing=async_save,
        create=True,
        cleanup_tmp_directories=True,
    )
    handlers = {
        STATE: ocp.StandardCheckpointHandler(),
        DATA: grain.checkpoint.CheckpointHandler(),
        CONFIG: ocp.JsonCheckpointHandler(),
    }
    self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)

  # -- save ---------------------------------------------------------------------------------------

  def save(
      self,
      step: int,
      state: Any,
      data_iterator: Any = None,
      config: Any = None,
      *,
      wait: bool = False,
  ) -> bool:
    """Starts saving checkpoint `step`; returns False when a checkpoint of that step exists.

    Args:
      step: the step number (directory name); normally `state.step`.
      state: the train state pytree (jax.Arrays, possibly sharded).
      data_iterator: a grain DatasetIterator (its `get_state()` is saved) or None.
      config: an ml_collections ConfigDict or a JSON-able dict, or None.
      wait: block until the checkpoint is committed.
    """
    self.check()
    if step in self._manager.all_steps():
      return False
    items = {STATE: ocp.args.StandardSave(state)}
    if data_iterator is not None:
      items[DATA] = grain.checkpoint.CheckpointSave(data_iterator)
    if config is not None:
      items[CONFIG] = ocp.args.JsonSave(_config_dict(config))
    saved = self._manager.save(step, args=ocp.args.Composite(**items), force=True)
    if wait:
      self.wait()
    return saved

  def check(self) -> None:
    """Raises the error of a failed asynchronous save, if any."""
    self._manager.check_for_errors()

  def wait(self) -> None:
    """Blocks until pending asynchronous saves are committed."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()

  # -- restore ------------------------------------------------------------------------------------

  def all_steps(self) -> Sequence[int]:
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore(
      self, abstract_state: Any, data_iterator: Any = None, step: int | None = None
  ) -> Restored | None:
    """Restores the newest readable checkpoint (or exactly `step`); None when there is none.

    Args:
      abstract_state: the state pytree with `jax.ShapeDtypeStruct(shape, dtype, sharding=...)`
        leaves: arrays are read straight into these shardings (any mesh).
      data_iterator: a grain iterator whose state is set from the checkpoint, when the
        checkpoint holds a state for this process layout (process index and count).
      step: a specific step; then no fallback.
    """
    steps = [step] if step is not None else sorted(self._manager.all_steps(), reverse=True)
    skipped = []
    for s in steps:
      try:
        return self._restore_step(s, abstract_state, data_iterator, skipped)
      except Exception as e:  # pylint: disable=broad-except
        if step is not None:
          raise
        message = f'{type(e).__name__}: {e}'.splitlines()[0][:300]
        logging.warning(
            'checkpoint %d in %s cannot be restored (%s); trying an older one',
            s,
            self.directory,
            message,
        )
        skipped.append((s, message))
    if skipped:
      logging.warning('no checkpoint in %s could be restored', self.directory)
    return None

  def _restore_step(self, step, abstract_state, data_iterator, skipped) -> Restored:
    step_dir = self.directory / str(step)
    items = {STATE: ocp.args.StandardRestore(abstract_state)}
    has_config = (step_dir / CONFIG).exists()
    if has_config:
      items[CONFIG] = ocp.args.JsonRestore()
    data_restored = False
    if data_iterator is not None:
      if _data_file(step_dir / DATA).exists():
        items[DATA] = grain.checkpoint.CheckpointRestore(data_iterator)
        data_restored = True
      elif (step_dir / DATA).exists():
        saved_layout = sorted(p.name for p in (step_dir / DATA).iterdir())
        logging.warning(
            'checkpoint %d has data iterator states %s but none for process %d of %d: the data '
            'iterator starts from the beginning of its stream',
            step,
            saved_layout,
            jax.process_index(),
            jax.process_count(),
        )
    out = self._manager.restore(step, args=ocp.args.Composite(**items))
    return Restored(
        step=step,
        state=out[STATE],
        data_restored=data_restored,
        config=out[CONFIG] if has_config else None,
        skipped=list(skipped),
    )


def _config_dict(config: Any) -> dict:
  if hasattr(config, 'to_json_best_effort'):
    return json.loads(config.to_json_best_effort())
  return json.loads(json.dumps(config, default=str))


def abstract_like(state: Any, shardings: Any) -> Any:
  """`jax.ShapeDtypeStruct` leaves with the given shardings (a pytree of the same structure)."""
  return jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings
  )


def _latest_step(directory: epath.Path) -> int:
  options = ocp.CheckpointManagerOptions(read_only=True)
  with ocp.CheckpointManager(directory, options=options) as m:
    step = m.latest_step()
  if step is None:
    raise FileNotFoundError(f'no checkpoint in {directory}')
  return step


def restore_params(
    directory: str | os.PathLike, abstract_params: Any, step: int | None = None
) -> tuple[Any, int]:
  """Reads only the parameters of a checkpoint (latest by default) into `abstract_params`.

  For inference and for initialising from another run: the optimizer state, RNG key and data
  iterator are not read. `abstract_params` is an nnx.State of `jax.ShapeDtypeStruct` leaves,
  each with the sharding to read into (plain ShapeDtypeStructs: the default device).

  Returns:
    (params, step): the nnx.State with arrays, and the checkpoint's step.
  """
  directory = epath.Path(os.path.abspath(directory))
  step = _latest_step(directory) if step is None else step
  flat = nnx.to_flat_state(abstract_params)

  def nested(leaf):
    out: dict = {}
    for path, variable in flat:
      node = out
      for key in path:
        node = node.setdefault(str(key), {})
      node['value'] = leaf(variable.get_value())
    return out

  def restore_arg(x):
    sharding = getattr(x, 'sharding', None) or jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return ocp.ArrayRestoreArgs(sharding=sharding, global_shape=x.shape, dtype=x.dtype)

  # partial_restore: the tree holds only `params`, so nothing else of the state item is read.
  args = ocp.args.PyTreeRestore(
      item={'params': nested(lambda x: x)},
      restore_args={'params': nested(restore_arg)},
      partial_restore=True,
  )
  with ocp.PyTreeCheckpointer() as ckptr:
    restored = ckptr.restore(directory / str(step) / STATE, args=args)['params']
  values = []
  for path, variable in flat:
    node = restored
    for key in path:
      node = node[str(key)]
    values.append((path, variable.replace(node['value'])))
  return nnx.from_flat_state(values), int(step)


def load_state_arrays(
    directory: str | os.PathLike, step: int | None = None
) -> dict[str, np.ndarray]:
  """Reads a checkpoint's train state as host numpy arrays keyed by their tree path.

  Independent of any mesh or model code: for tests, inspection and conversion scripts.
  """
  directory = epath.Path(os.path.abspath(directory))
  step = _latest_step(directory) if step is None else step
  path = directory / str(step) / STATE
  with ocp.PyTreeCheckpointer() as ckptr:
    metadata = ckptr.metadata(path)
    tree = metadata.item_metadata.tree if hasattr(metadata, 'item_metadata') else metadata
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    restored = ckptr.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))
  flat = {}
  for keys, value in jax.tree_util.tree_flatten_with_path(restored)[0]:
    flat['/'.join(str(getattr(k, 'key', getattr(k, 'idx', k))) for k in keys)] = np.asarray(value)
  return flat
