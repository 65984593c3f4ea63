# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Ahead-of-time plans: a config's per-device memory and FLOPs per step, nothing allocated.

  python -m lumos_jax plan --config=configs/lumos1_1b_stage2_joint.py:gpus=1 \
      [--resolution=672x384] [--frames=T] [--devices=N] [--config.mesh.shape="(1,-1,1)"]

The train step (`train.step.lower_train_step`: the jit, shardings and donation of a real run) is
lowered with abstract state and batch (jax.ShapeDtypeStruct) at every padded shape the data
pipeline produces for the config: one per video frame count of `data.fps_duration` and one for
images when `data.image_fraction > 0`, `data.batch_size` rows padded to the length bucket of the
longest item. The guided sampler (prefill and per-frame programs) is compiled for one video of
the first shape on one device, from an abstract model.

Memory is XLA's buffer assignment of the compiled programs (`compiled.memory_analysis()`), per
device: a compile-time peak, not a runtime sample. `--devices=N` compiles on a host with N
simulated CPU devices (the figures then come from the CPU compiler, whose fusion and temporaries
differ from the GPU and TPU compilers'); without it, the plan is compiled for this machine's own
devices, so on a GPU or TPU host it gives that compiler's figures.

FLOPs: the analytic model FLOPs (`lumos_jax.flops`: decoder weights x tokens, the LM head for
the expected AR-DF targets, the attention pairs the frame-causal spans allow), and XLA's own
count (`compiled.cost_analysis()`), which counts the body of each loop once (the scanned layers,
the attention kernel's key blocks) and includes rematerialisation: a cross-check of the
programs' size, not a step's work.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lumos_jax import flops as flops_lib
from lumos_jax import ardf, layout, parallel, sampling
from lumos_jax.errors import UserError
from lumos_jax.model import ModelConfig, create_model
from lumos_jax.vocab import Vocab

if TYPE_CHECKING:
  from lumos_jax.config import Config

_BPE_TEXT_ID = 10000  # an ordinary text id of the official (BPE) vocabulary, for prompts
_COSMOS_SPATIAL = 8  # Cosmos DV4x8x8: pixels per latent cell along H and W


def use_cpu_devices(count: int) -> None:
  """Makes this process compile for `count` simulated CPU devices; before jax starts a backend."""
  if count < 1:
    raise UserError(f'--devices={count}: expected a positive number of devices')
  try:
    jax.config.update('jax_platforms', 'cpu')
    jax.config.update('jax_num_cpu_devices', count)
  except RuntimeError as e:
    raise UserError(f'--devices={count}: jax already started its backend ({e})') from e


@dataclasses.dataclass(frozen=True)
class Memory:
  """XLA's buffer assignment of one compiled program, per device, in bytes."""

  arguments: int
  outputs: int
  aliased: int  # outputs written into donated arguments
  temporaries: int

  @classmethod
  def of(cls, compiled: jax.stages.Compiled) -> Memory:
    m = compiled.memory_analysis()
    return cls(
        m.argument_size_in_bytes,
        m.output_size_in_bytes,
        m.alias_size_in_bytes,
        m.temp_size_in_bytes,
    )

  @property
  def peak(self) -> int:
    """Arguments + outputs + temporaries, donated buffers counted once."""
    return self.arguments + self.outputs + self.temporaries - self.aliased


@dataclasses.dataclass(frozen=True)
class BatchShape:
  """One padded training batch shape, with the token and pair counts of its longest item."""

  kind: str  # 'video' or 'image'
  batch: int  # global rows
  length: int  # padded row length (a data.length_buckets entry)
  frames: int  # latent frames
  rows: int  # latent rows per frame
  cols: int  # latent columns per frame
  fps: int
  duration: int
  tokens: int  # real tokens of the whole batch (every row the longest item)
  targets: float  # expected loss targets of the whole batch (masked visual codes)
  pairs: float  # attended (query, key) pairs of the whole batch

  def describe(self) -> str:
    return f'{self.kind} {self.frames}x{self.rows}x{self.cols}, {self.batch} x {self.length}'


@dataclasses.dataclass(frozen=True)
class TrainPlan:
  shape: BatchShape
  memory: Memory
  params_bytes: int  # per device
  opt_state_bytes: int  # per device
  model_flops: float  # the whole step, all devices
  xla_flops: float | None  # per device, loop bodies counted once


@dataclasses.dataclass(frozen=True)
class Plan:
  devices: int
  device_kind: str
  backend: str
  mesh: dict[str, int]
  train: tuple[TrainPlan, ...]
  sampler: dict[str, Memory]  # program ('prefill', 'frame') -> memory, one device
  sampler_request: str


def prompt_ids(vocab: Vocab, length: int) -> list[int]:
  """`length` ordinary text ids: the byte 'a' (byte-level vocabularies) or one BPE id."""
  token = _BPE_TEXT_ID if vocab.byte_offset is None else vocab.byte_offset + ord('a')
  return [token] * length


def _latent_grid(config: Config, resolution: tuple[int, int] | None) -> tuple[int, int]:
  d = config.data
  height, width = resolution or d.height_width
  spatial = d.tokenizer.patch_size if d.tokenizer.kind == 'patch_vq' else _COSMOS_SPATIAL
  if min(height, width) < spatial or height % spatial or width % spatial:
    raise UserError(
        f'resolution {width}x{height} (WxH): both sides must be positive multiples of the visual '
        f"tokenizer's {spatial} px"
    )
  return height // spatial, width // spatial


def expected_mask_ratio(config: Config) -> float:
  """E[max(schedule(t), min_masking_rate)] for t ~ U[0, 1): the mean fraction of visual codes
  AR-DF masks, i.e. that carry the loss (midpoint rule over 1,000 steps)."""
  t = (np.arange(1000) + 0.5) / 1000
  ratio = np.maximum(
      np.asarray(ardf.schedule(config.ardf.schedule, t)), config.ardf.min_masking_rate
  )
  return float(ratio.mean())


def batch_shapes(
    config: Config, frames: int | None = None, resolution: tuple[int, int] | None = None
) -> list[BatchShape]:
  """The padded batch shapes the data pipeline produces for `config` (module docstring).

  Args:
    config: a parsed config.
    frames: latent frames of the video batches instead of the `data.fps_duration` choices.
    resolution: (height, width) in pixels instead of `data.size`.
  """
  from lumos_jax.data import pipeline  # pylint: disable=g-import-not-at-top  (tfds: not for bench)

  if frames is not None and frames < 1:
    raise UserError(f'--frames={frames}: expected at least 1 latent frame')
  d, vocab = config.data, config.vocab
  rows, cols = _latent_grid(config, resolution)
  choices: dict[int, tuple[int, int]] = {}  # latent frames -> (fps, duration)
  if d.image_fraction < 1:
    for fps, duration in d.fps_duration:
      t = frames or layout.latent_frames(fps * duration, vocab.rope_strides[0])
      choices.setdefault(t, (fps, duration))
  kinds = [('video', t, fps, duration) for t, (fps, duration) in sorted(choices.items())]
  if d.image_fraction > 0:
    kinds.append(('image', 1, 1, 1))
  rng = np.random.default_rng(0)
  shapes = []
  for kind, t, fps, duration in kinds:
    codes = [rng.integers(0, vocab.codebook_size, (rows, cols)) for _ in range(t)]
    text = prompt_ids(vocab, d.max_text_tokens)
    item = layout.build_item(text, codes, vocab, duration=duration, fps=fps).tokens
    targets = t * rows * cols * expected_mask_ratio(config)
    bound = pipeline.length_bound((t, rows, cols), t, d.max_text_tokens)
    try:
      length = pipeline.bucket_length(max(bound, len(item)), d.length_buckets)
    except ValueError as e:
      raise UserError(f'{kind} batches of {t} frames of {rows}x{cols} latents: {e}') from None
    row = layout.pad_batch([item], vocab, length)
    pairs = flops_lib.attended_pairs(
        layout.attention_spans(row, vocab, config.model.attention_mask == 'frame_causal'),
        layout.segment_ids(row, vocab),
    )
    shapes.append(
        BatchShape(
            kind,
            d.batch_size,
            length,
            t,
            rows,
            cols,
            fps,
            duration,
            d.batch_size * len(item),
            d.batch_size * targets,
            d.batch_size * float(pairs),
        )
    )
  return shapes


def _bytes_per_device(tree: Any) -> int:
  """Bytes of one device's shards of an abstract pytree with shardings."""
  return sum(
      math.prod(x.sharding.shard_shape(x.shape)) * jnp.dtype(x.dtype).itemsize
      for x in jax.tree.leaves(tree)
  )


def plan_train(config: Config, mesh: jax.sharding.Mesh, shape: BatchShape) -> TrainPlan:
  """Compiles the train step for `shape` on `mesh` with abstract inputs; nothing is allocated."""
  from lumos_jax.train import state as state_lib, step as step_lib  # pylint: disable=g-import-not-at-top

  rows = mesh.shape['data'] * mesh.shape['fsdp']
  if shape.batch % rows:
    raise UserError(
        f'data.batch_size={shape.batch} is not a multiple of the mesh batch axes data x fsdp = '
        f'{rows} (mesh {dict(mesh.shape)}); e.g. a recipe with :gpus={rows}'
    )
  settings = step_lib.StepSettings.create(config)
  state, shardings = state_lib.abstract_train_state(config.model, settings.tx, config.seed, mesh)
  sharding = parallel.batch_sharding(mesh)
  batch = {
      k: jax.ShapeDtypeStruct((shape.batch, shape.length), jnp.int32, sharding=sharding)
      for k in ('tokens', 'labels')
  }
  compiled = step_lib.lower_train_step(settings, mesh, shardings, state, batch).compile()
  cost = compiled.cost_analysis()
  model_flops = flops_lib.ModelFlops.of(config.model, config.vocab.codebook_size)
  return TrainPlan(
      shape,
      Memory.of(compiled),
      _bytes_per_device(state.params),
      _bytes_per_device(state.opt_state),
      model_flops(shape.tokens, shape.targets, shape.pairs),
      None if not cost or 'flops' not in cost else float(cost['flops']),
  )


def sampler_memory(
    vocab: Vocab, mc: ModelConfig, config: sampling.SamplingConfig, request: sampling.Request
) -> dict[str, Memory]:
  """Memory of the sampler's prefill and per-frame programs for `request`, compiled from an
  abstract model on the default device (nothing of the model or the KV cache is allocated)."""
  abstract = nnx.eval_shape(lambda: create_model(mc))
  sampler = sampling.Sampler(abstract, vocab, config)
  return {name: Memory.of(c) for name, c in sampler.compiled(request).items()}


def make_plan(
    config: Config,
    *,
    frames: int | None = None,
    resolution: tuple[int, int] | None = None,
    sampler: bool = True,
) -> Plan:
  """The plan of `config` on `config.mesh.shape` over this process's devices."""
  try:
    mesh = parallel.make_mesh(config.mesh.shape, context=config.mesh.context)
  except ValueError as e:
    raise UserError(f'config.mesh.shape: {e}') from None
  shapes = batch_shapes(config, frames, resolution)
  train = tuple(plan_train(config, mesh, s) for s in shapes)
  programs, described = {}, ''
  video = next((s for s in shapes if s.kind == 'video'), shapes[0])
  if sampler:
    request = sampling.Request(
        [prompt_ids(config.vocab, config.data.max_text_tokens)],
        num_frames=video.frames,
        height=video.rows,
        width=video.cols,
        duration=video.duration,
        fps=video.fps,
    )
    sampling_config = config.sample.sampling(video.frames)
    programs = sampler_memory(config.vocab, config.model, sampling_config, request)
    described = (
        f'1 {video.kind} of {video.frames}x{video.rows}x{video.cols} latents, '
        f'{config.data.max_text_tokens}-token prompt, {sampling_config.steps} MaskGIT steps, '
        f'guidance {"on" if sampling_config.cfg_scale is not None else "off"}'
    )
  device = jax.devices()[0]
  return Plan(
      mesh.size,
      device.device_kind,
      jax.default_backend(),
      dict(mesh.shape),
      train,
      programs,
      described,
  )


def _bytes(n: float) -> str:
  return f'{n / 2**30:,.2f} GiB' if n >= 2**30 else f'{n / 2**20:,.1f} MiB'


def _flops(n: float) -> str:
  for scale, unit in ((1e15, 'PFLOP'), (1e12, 'TFLOP'), (1e9, 'GFLOP')):
    if n >= scale:
      return f'{n / scale:,.3g} {unit}'
  return f'{n / 1e6:,.3g} MFLOP'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
  widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

  def line(row: Sequence[str]) -> str:
    cells = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
    return '  '.join(cells).rstrip()

  return [line(header), *(line(r) for r in rows)]


def format_plan(plan: Plan, model: ModelConfig) -> str:
  """The plan as text: one column per batch shape, then the sampler."""
  lines = [
      f'plan on {plan.devices} x {plan.device_kind} ({plan.backend}), mesh {plan.mesh}; '
      f'{model.dtype} compute, {model.param_dtype} parameters, remat {model.remat_policy!r}, '
      f'attention {model.attention_impl!r}',
      '',
      'train step, per device:',
  ]
  train = plan.train
  rows = [
      ('parameters', [_bytes(t.params_bytes) for t in train]),
      ('optimizer state', [_bytes(t.opt_state_bytes) for t in train]),
      ('arguments (state + batch)', [_bytes(t.memory.arguments) for t in train]),
      ('temporaries', [_bytes(t.memory.temporaries) for t in train]),
      ('peak (state donated)', [_bytes(t.memory.peak) for t in train]),
      ('real tokens per step', [f'{t.shape.tokens:,}' for t in train]),
      ('model FLOPs per step (all devices)', [_flops(t.model_flops) for t in train]),
      ('model FLOPs per device', [_flops(t.model_flops / plan.devices) for t in train]),
      (
          'XLA cost analysis FLOPs per device',
          ['n/a' if t.xla_flops is None else _flops(t.xla_flops) for t in train],
      ),
  ]
  lines += _table(['', *(t.shape.describe() for t in train)], [[k, *v] for k, v in rows])
  if plan.sampler:
    lines += ['', f'sampler, one device ({plan.sampler_request}):']
    lines += _table(
        ['program', 'arguments', 'temporaries', 'peak'],
        [
            [name, _bytes(m.arguments), _bytes(m.temporaries), _bytes(m.peak)]
            for name, m in plan.sampler.items()
        ],
    )
  lines += [
      '',
      f'Memory: XLA buffer assignment of the {plan.backend.upper()} compiler (compile time, per '
      'device); GPU and TPU compilers fuse differently and their temporaries differ.',
      'Model FLOPs: 6 x decoder weights x real tokens + 6 x LM head visual columns x expected '
      'AR-DF targets + 12 x layers x heads x head_dim x attended pairs (lumos_jax/flops.py). XLA '
      'counts each loop body (scanned layers, attention blocks) once.',
  ]
  return '\n'.join(lines)
