# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Benchmarks: attention kernels, train step, sampling latency, data pipeline.

  python -m lumos_jax.bench [--quick] [--gpu]
      [--sections=attention,train,sampling,data,tokenizer,sampling_memory,pytorch]
                            [--out=bench/results/latest.json] [--doc=docs/benchmarks.md]

Writes a JSON list of records, each {name, metric, value, unit, machine, date, [seq_len], ...}
(e.g. name='attention/blockwise', metric='peak_memory_bytes'), and renders them as tables between
the markers of `docs/benchmarks.md` (the prose around them is kept). What is measured:

  attention  jitted forward + backward of one attention layer on a video layout (demo vocabulary,
             32-byte prompt, 8x8-latent frames of 76 tokens, right-padded to L): median wall time
             and XLA's buffer assignment for the compiled program (arguments + outputs +
             temporaries, `compiled.memory_analysis()`): a compile-time peak, not a runtime one.
  train      the jitted AR-DF train step (donated state) of configs/tiny.py, configs/demo.py and a
             1B-shaped model (configs/common.py '1b' layers at depth 2, demo vocabulary; on
             accelerators also 7 latent frames at 384p with the official codebook): median
             step time and real (non-padding) tokens per second, compile time, model FLOP/s
             (`lumos_jax.flops`: attention counted over the pairs the frame-causal spans allow)
             and, on chips with a known peak (`flops.PEAK_FLOPS`), MFU.
  sampling   `sampling.Sampler.generate` (randomly initialised model, KV cache, guidance on):
             wall time per video and per frame, after one warm-up call that compiles.
             Train and sampling run with each attention_impl of the backend (CPU: dense and
             blockwise), recorded as the records' `attention_impl`.
  pytorch    the train step beside transformers' Chameleon of the same shape on the same batch,
             alternating in one process (CPU only; `bench_torch.py`): both times and the ratio.
  data       `data.pipeline.benchmark`: training batches per second from the grain pipeline
             (synthetic data prepared once in a temporary folder), in items per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import itertools
import math
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections as mlc
import numpy as np

from lumos_jax import bench_torch
from lumos_jax import config as config_lib
from lumos_jax import flops, layout, sampling
from lumos_jax import plan as plan_lib
from lumos_jax import vocab as vocab_lib
from lumos_jax.model import attention, create_model
from lumos_jax.model import config as model_config_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / 'bench' / 'results' / 'latest.json'
DEFAULT_DOC = REPO / 'docs' / 'benchmarks.md'
SECTIONS = ('attention', 'train', 'sampling', 'data', 'tokenizer', 'sampling_memory', 'pytorch')
BEGIN, END = '<!-- bench:begin -->', '<!-- bench:end -->'

# Decoder layer of the official-shaped model (configs/common.py MODELS['1b'], Llama-3.2-1B shape).
OFFICIAL_1B = dict(embed_dim=2048, num_heads=32, num_kv_heads=8, head_dim=64, mlp_dim=8192)


@dataclasses.dataclass(frozen=True)
class Plan:
  """What to run; `plan(quick, backend)` gives the defaults."""

  attention_impls: tuple[str, ...]
  seq_lens: tuple[int, ...]
  attention_heads: tuple[int, int, int]  # (query heads, KV heads, head_dim)
  reps: int
  train: tuple[tuple[str, int, int], ...]  # (model, batch, frames): see `_train_config`
  train_steps: int
  sampling: tuple[tuple[str, int, int], ...]  # (model, frames, MaskGIT steps)
  data: tuple[str, ...]
  data_batches: int
  model_impls: tuple[str, ...]  # attention_impl of the train and sampling models
  # (Cosmos config, RGB frames, height, width) timed, and the shapes only compiled for memory
  tokenizer: tuple[tuple[str, int, int, int], ...] = ()
  tokenizer_memory: tuple[tuple[str, int, int, int], ...] = ()
  # (model, latent frames, latent rows, latent columns) of generations compiled, not run
  sampling_memory: tuple[tuple[str, int, int, int], ...] = ()
  # (model, batch, frames) of the PyTorch side-by-side train step (bench_torch.py)
  pytorch: tuple[tuple[str, int, int], ...] = ()
  attention_dtype: str = 'float32'
  sampling_impls: tuple[str, ...] | None = None  # attention_impl of sampling (None: model_impls)


def plan(quick: bool, backend: str) -> Plan:
  if quick:
    return Plan(
        ('dense', 'blockwise'),
        (128, 256),
        (4, 2, 32),
        1,
        (('tiny', 2, 2),),
        2,
        (('tiny', 2, 2),),
        ('tiny',),
        2,
        ('dense',),
        (('small', 5, 48, 64),),
        (('small', 25, 96, 160),),
        (('tiny', 3, 4, 4),),
        pytorch=(('tiny', 2, 2),),
    )
  impls = {
      'cpu': ('dense', 'blockwise'),
      'gpu': ('dense', 'blockwise', 'pallas_gpu', 'cudnn'),
      'tpu': ('dense', 'blockwise', 'splash_tpu'),
  }.get(backend, ('dense', 'blockwise'))
  seq_lens = (512, 1024, 2048, 4096) if backend == 'cpu' else (2048, 4096, 8192, 16384, 32768)
  # lumos1_vocab_small: the official 129,536-id vocabulary on a 4-layer width-256 model, where
  # the LM head and the loss dominate (issue 19's shape: batch 4, 3 frames of 8x8 latents).
  train = (
      ('tiny', 8, 4),
      ('demo', 8, 4),
      ('lumos1_vocab_small', 4, 3),
      ('official_1b_2layers', 1, 2),
  )
  if backend != 'cpu':  # 12 frames of 16x16 latents, and 7 latent frames at 384p (28.7k tokens)
    train = train[:2] + (('official_1b_2layers', 1, 12), ('official_1b_384p', 1, 7))
  return Plan(
      impls,
      seq_lens,
      (8, 2, 64),
      3,
      train,
      3,
      (('tiny', 4, 50), ('demo', 4, 50)),
      ('tiny', 'demo'),
      50,
      impls if backend == 'cpu' else ('dense', *impls[2:]),
      # 256p and 384p crops of the official lists (448x256, 672x384), 9 frames -> 3 latents
      (('dv4x8x8', 9, 256, 448), ('dv4x8x8', 9, 384, 672)),
      (('dv4x8x8', 25, 384, 672),),  # the official 12 fps x 2 s clip at 384p -> 7 latents
      (('1b', 7, 48, 84), ('3b', 7, 48, 84)),  # official T2V at 384p (spec 7.1)
      # the CPU comparison with transformers' Chameleon (issue 19); none on accelerators
      pytorch=(('demo', 8, 4), ('lumos1_vocab_small', 4, 3)) if backend == 'cpu' else (),
  )


GPU_IMPLS = ('blockwise', 'pallas_gpu', 'cudnn')


def gpu_plan(quick: bool, backend: str) -> Plan:
  """The GPU figures (`--gpu`, bench/gpu.sh): every GPU kernel in the attention sweep at 8k-32k
  keys (the 1B layer's heads, bfloat16) and in the train step of the 1B layer shape at 384p (7
  latent frames of 48x84), and one guided 384p video from the full 1B model ('auto' attention).
  `quick`, or a backend without these kernels, keeps the sections at CPU shapes (for tests)."""
  impls = GPU_IMPLS if backend == 'gpu' else ('blockwise',)
  if quick or backend != 'gpu':
    return Plan(
        impls,
        (256, 512),
        (4, 2, 32),
        1,
        (('tiny', 2, 2),),
        2,
        (('tiny', 2, 2),),
        (),
        0,
        impls,
        attention_dtype='bfloat16',
        sampling_impls=('auto',),
    )
  return Plan(
      impls,
      (8192, 16384, 32768),
      (OFFICIAL_1B['num_heads'], OFFICIAL_1B['num_kv_heads'], OFFICIAL_1B['head_dim']),
      3,
      (('official_1b_384p', 1, 7),),
      3,
      (('official_1b_16layers_384p', 7, 50),),
      (),
      0,
      impls,
      attention_dtype='bfloat16',
      sampling_impls=('auto',),
  )


# -- records --------------------------------------------------------------------------------------


def machine() -> str:
  """Backend, device kind and count, host CPU and jax version."""
  devices = jax.devices()
  cpu = platform.processor() or platform.machine()
  try:
    for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
      if line.startswith('model name'):
        cpu = line.split(':', 1)[1].strip()
        break
  except OSError:
    pass
  return (
      f'{jax.default_backend()}: {len(devices)} x {devices[0].device_kind}; host {cpu}, '
      f'{os.cpu_count()} cores; jax {jax.__version__}'
  )


class Recorder:
  """Collects records with the machine and date filled in."""

  def __init__(self):
    self.machine = machine()
    self.date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')
    self.records: list[dict[str, Any]] = []

  def add(self, name: str, metric: str, value: float, unit: str, **extra) -> None:
    record = dict(
        name=name,
        metric=metric,
        value=float(value),
        unit=unit,
        machine=self.machine,
        date=self.date,
        **extra,
    )
    self.records.append(record)
    print(
        f'  {name} {metric} = {value:.6g} {unit} '
        f'{ {k: v for k, v in extra.items() if k != "note"} }',
        flush=True,
    )


def _median_time(fn: Callable[[], Any], reps: int) -> float:
  """Median wall time of fn() (its outputs are waited for), after one warm-up call."""
  jax.block_until_ready(fn())
  times = []
  for _ in range(reps):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


# -- attention ------------------------------------------------------------------------------------


def video_layout(length: int, vocab: vocab_lib.Vocab, latents: int = 8, seed: int = 0):
  """int32 [1, length] tokens: prompt + as many latents x latents frames as fit, then padding."""
  rng = np.random.default_rng(seed)
  text = [vocab.byte_offset + c for c in rng.integers(97, 123, 32)]
  frames = 1
  while True:
    codes = [rng.integers(0, vocab.codebook_size, (latents, latents)) for _ in range(frames + 1)]
    longer = layout.build_item(text, codes, vocab, duration=frames + 1, fps=1).tokens
    if len(longer) > length:
      break
    frames += 1
  item = layout.build_item(text, codes[:frames], vocab, duration=frames, fps=1).tokens[:length]
  return layout.pad_batch([item], vocab, length)


def bench_attention(rec: Recorder, p: Plan) -> None:
  vocab = vocab_lib.demo()
  n, kv, d = p.attention_heads
  for length in p.seq_lens:
    tokens = video_layout(length, vocab)
    spans = jnp.asarray(layout.attention_spans(tokens, vocab))
    seg = jnp.asarray(layout.segment_ids(tokens, vocab))
    keys = jax.random.split(jax.random.key(length), 4)
    dtype = jnp.dtype(p.attention_dtype)
    q = jax.random.normal(keys[0], (1, length, n, d), dtype)
    k = jax.random.normal(keys[1], (1, length, kv, d), dtype)
    v = jax.random.normal(keys[2], (1, length, kv, d), dtype)
    cotangent = jax.random.normal(keys[3], q.shape, dtype)
    for impl in p.attention_impls:

      def loss(q, k, v, impl=impl):
        out = attention.attend(q, k, v, spans, seg, seg, impl=impl)
        return jnp.sum((out * cotangent).astype(jnp.float32))

      fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
      extra = dict(seq_len=length, batch=1, heads=n, kv_heads=kv, head_dim=d, dtype=dtype.name)
      try:
        compiled = fn.lower(q, k, v).compile()
        mem = plan_lib.Memory.of(compiled)
        seconds = _median_time(lambda: compiled(q, k, v), p.reps)
      except Exception as e:  # pylint: disable=broad-except
        # e.g. dense running out of device memory at 32k: note it and go on.
        print(f'  attention/{impl} L={length}: {type(e).__name__}: {str(e)[:200]}', flush=True)
        continue
      rec.add(f'attention/{impl}', 'fwd_bwd_time_s', seconds, 's', **extra)
      rec.add(f'attention/{impl}', 'peak_memory_bytes', mem.peak, 'bytes', **extra)
      rec.add(f'attention/{impl}', 'temp_memory_bytes', mem.temporaries, 'bytes', **extra)


# -- train step -----------------------------------------------------------------------------------


def load_config(name: str) -> mlc.ConfigDict:
  """configs/<name>.py's ConfigDict."""
  return config_lib.load(str(REPO / 'configs' / f'{name}.py'))


def _train_config(model: str, attention_impl: str) -> tuple[config_lib.Config, tuple[int, int]]:
  """(config, (frame latent rows, columns)) for a benchmark model name (see `_base_config`)."""
  config, latents = _base_config(model)
  return (
      dataclasses.replace(
          config, model=dataclasses.replace(config.model, attention_impl=attention_impl)
      ),
      latents,
  )


def _base_config(model: str) -> tuple[config_lib.Config, tuple[int, int]]:
  """'tiny' and 'demo' are configs/*.py; 'official_1b_*' are the 1B decoder layer at depth 2.

  'official_1b_2layers' keeps the demo vocabulary with 16x16-latent frames; 'official_1b_384p'
  has the official codebook (64,000 codes) and Cosmos geometry (one grid token = 4 latent rows,
  MM-RoPE strides (4, 8, 8)) with 48x84-latent frames, i.e. 672x384 px;
  'official_1b_16layers_384p' is the same with the recipe's 16 layers (the whole 1B decoder).
  """
  if model.startswith('official_1b'):
    raw = load_config('demo')
    raw.model.update(OFFICIAL_1B, num_layers=16 if '16layers' in model else 2, scan_unroll=1)
    if jax.default_backend() != 'cpu':
      raw.model.update(dtype='bfloat16', remat_policy='full')  # as the official recipes
    config = config_lib.parse(raw)
    if model.endswith('_384p'):
      vocab = vocab_lib.demo(codebook_size=64000, latent_per_grid=4, rope_strides=(4, 8, 8))
      model_config = dataclasses.replace(config.model, vocab_size=vocab.size)
      return dataclasses.replace(config, vocab=vocab, model=model_config), (48, 84)
    return config, (16, 16)
  if model == 'lumos1_vocab_small':
    raw = load_config('demo')
    raw.vocab.update(preset='lumos1', codebook_size=0)
    raw.model.update(
        embed_dim=256, num_layers=4, num_heads=4, num_kv_heads=4, head_dim=64, mlp_dim=1024
    )
    raw.loss.chunk_size = 256  # LossConfig's default
    return config_lib.parse(raw), (8, 8)
  config = config_lib.parse(load_config(model))
  side = config.data.height_width[0] // config.data.tokenizer.patch_size
  return config, (side, side)


def synthetic_batch(vocab, batch: int, frames: int, latents: tuple[int, int], seed: int = 0):
  """A text-to-video batch like the pipeline's: tokens and labels [B, L], L a multiple of 64.

  `latents` is (rows, columns) of every frame.
  """
  rng = np.random.default_rng(seed)
  items = []
  for _ in range(batch):
    if vocab.byte_offset is None:  # a BPE vocabulary (lumos1): ordinary text ids
      text = list(rng.integers(10000, 20000, rng.integers(16, 48)))
    else:
      text = [vocab.byte_offset + c for c in rng.integers(97, 123, rng.integers(16, 48))]
    codes = [rng.integers(0, vocab.codebook_size, latents) for _ in range(frames)]
    items.append(layout.build_item(text, codes, vocab, duration=frames, fps=1))
  length = -(-max(len(i.tokens) for i in items) // 64) * 64
  tokens = layout.pad_batch([i.tokens for i in items], vocab, length)
  labels = layout.pad_batch([i.labels for i in items], vocab, length, fill=layout.IGNORE)
  return {'tokens': jnp.asarray(tokens), 'labels': jnp.asarray(labels)}


def bench_train(rec: Recorder, p: Plan) -> None:
  from lumos_jax.train import state as state_lib, step as step_lib  # pylint: disable=g-import-not-at-top

  for (model, batch_size, frames), impl in itertools.product(p.train, p.model_impls):
    config, latents = _train_config(model, impl)
    vocab, mc = config.vocab, config.model
    settings = step_lib.StepSettings.create(config)
    _, state, _ = state_lib.create_train_state(mc, settings.tx, seed=0)
    step = step_lib.compile_train_step(settings)
    batch = synthetic_batch(vocab, batch_size, frames, latents)
    try:
      start = time.perf_counter()
      state, metrics = step(state, batch)
      jax.block_until_ready(metrics)
      compile_s = time.perf_counter() - start
      times = []
      for _ in range(p.train_steps):
        start = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    except Exception as e:  # pylint: disable=broad-except
      # e.g. dense attention out of device memory at 384p: note it and go on.
      print(f'  train/{model} {impl}: {type(e).__name__}: {str(e)[:200]}', flush=True)
      continue
    seconds = statistics.median(times)
    params = sum(x.size for x in jax.tree.leaves(state.params))
    extra = dict(
        seq_len=int(batch['tokens'].shape[1]),
        batch=batch_size,
        frames=frames,
        frame_latents=f'{latents[0]}x{latents[1]}',
        params=int(params),
        dtype=mc.dtype,
        remat=mc.remat_policy,
        attention_impl=mc.attention_impl,
    )
    rec.add(f'train/{model}', 'step_time_s', seconds, 's', **extra)
    rec.add(
        f'train/{model}', 'tokens_per_s', float(metrics['tokens']) / seconds, 'tokens/s', **extra
    )
    rec.add(f'train/{model}', 'compile_time_s', compile_s, 's', **extra)
    model_flops = flops.ModelFlops.of(mc, vocab.codebook_size)
    counts = (metrics['tokens'], metrics['num_targets'], metrics['attended_pairs'])
    achieved = model_flops(*map(float, counts)) / seconds
    rec.add(f'train/{model}', 'model_flops_per_s', achieved, 'FLOP/s', **extra)
    peak = flops.peak_flops(jax.devices()[0], mc.dtype)
    if peak:
      rec.add(f'train/{model}', 'mfu', achieved / peak, 'fraction', peak_flops=peak, **extra)
    del state


# -- sampling -------------------------------------------------------------------------------------


def bench_sampling(rec: Recorder, p: Plan) -> None:
  impls = p.model_impls if p.sampling_impls is None else p.sampling_impls
  for (model, frames, steps), impl in itertools.product(p.sampling, impls):
    config, latents = _train_config(model, impl)
    vocab, mc = config.vocab, config.model
    sampler = sampling.Sampler(
        create_model(mc, seed=0), vocab, sampling.SamplingConfig(steps=steps)
    )
    prompt = [vocab.byte_offset + c for c in b'a red ball bounces on a blue floor']
    request = sampling.Request(
        [prompt], num_frames=frames, height=latents[0], width=latents[1], duration=frames, fps=1
    )
    start = time.perf_counter()
    sampler.generate(request, seed=0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    sampler.generate(request, seed=1)
    seconds = time.perf_counter() - start
    extra = dict(
        frames=frames,
        steps=steps,
        batch=1,
        cfg_scale=sampler.config.cfg_scale,
        frame_latents=f'{latents[0]}x{latents[1]}',
        attention_impl=mc.attention_impl,
    )
    rec.add(f'sampling/{model}', 'latency_per_video_s', seconds, 's', **extra)
    rec.add(f'sampling/{model}', 'latency_per_frame_s', seconds / frames, 's', **extra)
    rec.add(f'sampling/{model}', 'first_call_s', first, 's', **extra)


# -- data -----------------------------------------------------------------------------------------


def bench_data(rec: Recorder, p: Plan, data_root: pathlib.Path | None = None) -> None:
  from lumos_jax.data import pipeline, prepare  # pylint: disable=g-import-not-at-top

  root = data_root or pathlib.Path(tempfile.gettempdir()) / 'lumos_jax_bench_data'
  for name in p.data:
    raw = load_config(name)
    raw.data.dir = str(root / name)
    # Fewer stored items than the config's (the rate does not depend on the set's size).
    raw.data.num_train = min(raw.data.num_train, 256)
    raw.data.num_train_images = min(raw.data.num_train_images, 64)
    config = config_lib.parse(raw)
    prepare.prepare(config.data, config.vocab)
    rate = pipeline.benchmark(config.data, config.vocab, p.data_batches)
    rec.add(
        f'data/{name}',
        'items_per_s',
        rate,
        'items/s',
        batch=config.data.batch_size,
        batches=p.data_batches,
    )


# -- visual tokenizer -----------------------------------------------------------------------------


def _cosmos(name: str, dtype: str):
  """A Cosmos DV tokenizer with random weights: 'dv4x8x8' (Lumos's) or 'small' (channels 16)."""
  from lumos_jax.tokenizers.cosmos import config as cosmos_config  # pylint: disable=g-import-not-at-top
  from lumos_jax.tokenizers.cosmos import state_dict, tokenizer  # pylint: disable=g-import-not-at-top

  config = cosmos_config.CosmosConfig.dv4x8x8(**({'channels': 16} if name == 'small' else {}))
  weights = state_dict.random_state_dict(config, seed=0)
  return tokenizer.CosmosTokenizer.from_state_dict(config, weights, jnp.dtype(dtype))


def bench_tokenizer(rec: Recorder, p: Plan) -> None:
  """Cosmos DV encode / decode time per RGB frame (random weights: the cost does not depend on
  them), and the compiled peak memory of larger clips without running them."""
  dtype = 'float32' if jax.default_backend() == 'cpu' else 'bfloat16'
  rng = np.random.default_rng(0)
  for name, frames, height, width in p.tokenizer:
    tok = _cosmos(name, dtype)
    video = rng.integers(0, 256, (1, frames, height, width, 3), dtype=np.uint8)
    codes = tok.encode(video)  # compiles
    tok.decode(codes)
    encode = _median_time(lambda: tok.encode(video), p.reps)
    decode = _median_time(lambda: tok.decode(codes), p.reps)
    extra = dict(
        frames=frames,
        size=f'{width}x{height}',
        latents='x'.join(map(str, codes.shape[1:])),
        dtype=dtype,
    )
    rec.add(f'tokenizer/{name}', 'encode_s_per_frame', encode / frames, 's', **extra)
    rec.add(f'tokenizer/{name}', 'decode_s_per_frame', decode / frames, 's', **extra)
  for name, frames, height, width in p.tokenizer_memory:
    tok = _cosmos(name, dtype)
    t, h, w = layout.latent_frames(frames, 4), height // 8, width // 8
    extra = dict(frames=frames, size=f'{width}x{height}', latents=f'{t}x{h}x{w}', dtype=dtype)
    rec.add(
        f'tokenizer/{name}',
        'encode_peak_bytes',
        plan_lib.Memory.of(tok.compiled('encode', (1, frames, height, width, 3))).peak,
        'bytes',
        **extra,
    )
    rec.add(
        f'tokenizer/{name}',
        'decode_peak_bytes',
        plan_lib.Memory.of(tok.compiled('decode', (1, t, h, w))).peak,
        'bytes',
        **extra,
    )


# -- sampling memory ------------------------------------------------------------------------------


def bench_sampling_memory(rec: Recorder, p: Plan) -> None:
  """Device memory of a guided generation (prefill and per-frame program), compiled ahead of time
  with an abstract model: '1b' / '3b' are the recipes' shapes with the official vocabulary in
  bfloat16 (parameters as released), 'tiny' is configs/tiny.py."""
  from lumos_jax.config import recipes  # pylint: disable=g-import-not-at-top
  from flax import nnx  # pylint: disable=g-import-not-at-top

  for name, frames, rows, cols in p.sampling_memory:
    if name == 'tiny':
      config = config_lib.parse(load_config('tiny'))
      vocab, mc = config.vocab, config.model
    else:
      vocab = vocab_lib.lumos1()
      mc = model_config_lib.ModelConfig(
          vocab_size=vocab.size,
          **recipes.MODELS[name],
          dtype='bfloat16',
          param_dtype='bfloat16',
          attention_impl='auto',  # as the recipes: blockwise, linear in the keys
      )
    # A 256-token prompt (official prompts run to ~200 tokens).
    text = plan_lib.prompt_ids(vocab, 256 if vocab.byte_offset is None else 64)
    request = sampling.Request(
        [text], num_frames=frames, height=rows, width=cols, duration=2, fps=12
    )
    abstract = nnx.eval_shape(lambda mc=mc: create_model(mc))
    params = sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
    extra = dict(
        frames=frames, frame_latents=f'{rows}x{cols}', dtype=mc.dtype, params=int(params), batch=1
    )
    config = sampling.SamplingConfig(steps=50, cfg_scale=15.0)
    for program, memory in plan_lib.sampler_memory(vocab, mc, config, request).items():
      rec.add(f'sampling_memory/{name}', f'{program}_peak_bytes', memory.peak, 'bytes', **extra)


# -- report ---------------------------------------------------------------------------------------


def _fmt(value: float, unit: str) -> str:
  if unit == 'bytes':
    return f'{value / 2 ** 20:,.1f} MiB'
  if unit == 's':
    return f'{value * 1e3:,.1f} ms' if value < 1 else f'{value:,.2f} s'
  return f'{value:,.0f} {unit}'


def _fastest(by: dict, keys: Sequence[tuple], metric: str, what: str) -> str:
  """'Fastest per <what>: <case> <impl>, ...': the choice `attention_impl='auto'` should make."""
  best: dict[Any, tuple[float, str]] = {}
  for key in keys:
    name, length, impl = key
    case = length if what == 'L' else name.split('/', 1)[1]
    impl = impl or name.split('/', 1)[1]  # attention records name the implementation
    value = by[key][metric]['value']
    if case not in best or value < best[case][0]:
      best[case] = (value, impl)
  return f'Fastest per {what}: ' + ', '.join(f'{c} {i}' for c, (_, i) in best.items()) + '.'


def render(records: Sequence[dict], command: str) -> str:
  """Markdown tables (one per section) for the records."""
  if not records:
    return 'No records.'
  head = records[0]
  lines = [f'Machine: {head["machine"]}  ', f'Date: {head["date"]}  ', f'Command: `{command}`', '']
  by = {}
  for r in records:
    by.setdefault((r['name'], r.get('seq_len'), r.get('attention_impl')), {})[r['metric']] = r
  attn = sorted(k for k in by if k[0].startswith('attention/'))
  if attn:
    r0 = by[attn[0]]['fwd_bwd_time_s']
    lines += [
        f'### Attention forward + backward ({r0["heads"]} query heads, {r0["kv_heads"]} KV '
        f'heads, head_dim {r0["head_dim"]}, batch 1, {r0["dtype"]})',
        '',
        '| implementation | L | fwd+bwd time | peak memory | temporaries |',
        '|---|---:|---:|---:|---:|',
    ]
    for name, length, impl in attn:
      m = by[(name, length, impl)]
      lines.append(
          f'| {name.split("/", 1)[1]} | {length} | '
          f'{_fmt(m["fwd_bwd_time_s"]["value"], "s")} | '
          f'{_fmt(m["peak_memory_bytes"]["value"], "bytes")} | '
          f'{_fmt(m["temp_memory_bytes"]["value"], "bytes")} |'
      )
    lines += ['', _fastest(by, attn, 'fwd_bwd_time_s', 'L'), '']
  train = [k for k in by if k[0].startswith('train/')]
  if train:
    lines += [
        '### Train step',
        '',
        '| model | attention | params | batch x L | dtype | step time '
        '| tokens/s | model TFLOP/s | MFU | compile |',
        '|---|---|---:|---:|---|---:|---:|---:|---:|---:|',
    ]
    for key in train:
      m = by[key]
      r = m['step_time_s']
      mfu = f'{m["mfu"]["value"]:.1%}' if 'mfu' in m else 'n/a'
      lines.append(
          f'| {key[0].split("/", 1)[1]} | {key[2]} | {r["params"] / 1e6:,.1f} M | '
          f'{r["batch"]} x {r["seq_len"]} | {r["dtype"]} | {_fmt(r["value"], "s")} | '
          f'{m["tokens_per_s"]["value"]:,.0f} | '
          f'{m["model_flops_per_s"]["value"] / 1e12:.3f} | {mfu} | '
          f'{_fmt(m["compile_time_s"]["value"], "s")} |'
      )
    lines += ['', _fastest(by, train, 'step_time_s', 'model'), '']
  samp = [k for k in by if k[0].startswith('sampling/')]
  if samp:
    lines += [
        '### Sampling (batch 1, guidance on, KV cache)',
        '',
        '| model | attention | frame latents | frames | MaskGIT steps | per frame '
        '| per video | first call |',
        '|---|---|---|---:|---:|---:|---:|---:|',
    ]
    for key in samp:
      m = by[key]
      r = m['latency_per_video_s']
      lines.append(
          f'| {key[0].split("/", 1)[1]} | {key[2]} | {r["frame_latents"]} | '
          f'{r["frames"]} | '
          f'{r["steps"]} | {_fmt(m["latency_per_frame_s"]["value"], "s")} | '
          f'{_fmt(r["value"], "s")} | {_fmt(m["first_call_s"]["value"], "s")} |'
      )
    lines.append('')
  tok = {}  # (config, frames, size) -> metric -> record: one config runs at several sizes
  for r in records:
    if r['name'].startswith('tokenizer/'):
      tok.setdefault((r['name'].split('/', 1)[1], r['frames'], r['size']), {})[r['metric']] = r
  if tok:
    lines += [
        '### Visual tokenizer (Cosmos DV, random weights, batch 1)',
        '',
        '| config | clip (RGB frames, WxH) | latents | dtype | encode / frame | decode / frame '
        '| encode peak | decode peak |',
        '|---|---|---|---|---:|---:|---:|---:|',
    ]
    for (name, frames, size), row in tok.items():
      r = next(iter(row.values()))
      cell = lambda k, u: _fmt(row[k]['value'], u) if k in row else ''
      lines.append(
          f'| {name} | {frames}, {size} | {r["latents"]} | {r["dtype"]} | '
          f'{cell("encode_s_per_frame", "s")} | {cell("decode_s_per_frame", "s")} | '
          f'{cell("encode_peak_bytes", "bytes")} | {cell("decode_peak_bytes", "bytes")} |'
      )
    lines.append('')
  mem = [k for k in by if k[0].startswith('sampling_memory/')]
  if mem:
    lines += [
        '### Sampling memory (guided, batch 1, compiled ahead of time, not run)',
        '',
        '| model | params | dtype | frames x latents | prefill peak | per-frame peak |',
        '|---|---:|---|---|---:|---:|',
    ]
    for key in mem:
      m = by[key]
      r = m['frame_peak_bytes']
      lines.append(
          f'| {key[0].split("/", 1)[1]} | {r["params"] / 1e6:,.0f} M | {r["dtype"]} | '
          f'{r["frames"]} x {r["frame_latents"]} | '
          f'{_fmt(m["prefill_peak_bytes"]["value"], "bytes")} | {_fmt(r["value"], "bytes")} |'
      )
    lines.append('')
  torch_rows = [k for k in by if k[0].startswith('pytorch/')]
  if torch_rows:
    lines += [
        '### PyTorch side by side (transformers Chameleon train step, same shape and batch)',
        '',
        '| model | batch x L | PyTorch step | lumos-jax step | PyTorch / lumos-jax |',
        '|---|---:|---:|---:|---:|',
    ]
    for key in torch_rows:
      m = by[key]
      r = m['torch_over_jax']
      lines.append(
          f'| {key[0].split("/", 1)[1]} | {r["batch"]} x {r["seq_len"]} | '
          f'{_fmt(m["torch_step_time_s"]["value"], "s")} | '
          f'{_fmt(m["jax_step_time_s"]["value"], "s")} | {r["value"]:.2f} |'
      )
    lines.append('')
  data = [k for k in by if k[0].startswith('data/')]
  if data:
    lines += ['### Data pipeline', '', '| config | batch | items/s |', '|---|---:|---:|']
    for key in data:
      r = by[key]['items_per_s']
      lines.append(f'| {key[0].split("/", 1)[1]} | {r["batch"]} | {r["value"]:,.0f} |')
    lines.append('')
  return '\n'.join(lines).rstrip() + '\n'


def update_doc(path: pathlib.Path, body: str) -> None:
  """Replaces the text between the bench markers of `path` (appends them if missing)."""
  text = path.read_text() if path.exists() else '# Benchmarks\n'
  block = f'{BEGIN}\n{body}{END}'
  if BEGIN in text and END in text:
    text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
  else:
    text = text.rstrip() + '\n\n' + block + '\n'
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)


def run(
    *,
    quick: bool = False,
    gpu: bool = False,
    sections: Sequence[str] = SECTIONS,
    out: str | pathlib.Path | None = DEFAULT_OUT,
    doc: str | pathlib.Path | None = DEFAULT_DOC,
    command: str | None = None,
    data_root: str | pathlib.Path | None = None,
) -> list[dict]:
  """Runs the benchmark sections and writes the JSON records and the markdown tables.

  Args:
    quick: tiny shapes and few repetitions (seconds; for tests).
    gpu: the GPU figures (`gpu_plan`) instead of the default plan.
    sections: subset of SECTIONS.
    out: JSON output path (None: do not write).
    doc: markdown file whose bench block is replaced (None: do not write).
    command: the command line recorded in the doc (default: this process's argv).
    data_root: where the data section prepares its synthetic records (default: a temp folder).

  Returns:
    The records.
  """
  unknown = set(sections) - set(SECTIONS)
  if unknown:
    raise ValueError(f'unknown bench sections {sorted(unknown)}; expected a subset of {SECTIONS}')
  rec = Recorder()
  p = (gpu_plan if gpu else plan)(quick, jax.default_backend())
  print(f'bench on {rec.machine}', flush=True)
  data_root = None if data_root is None else pathlib.Path(data_root)
  runners = dict(
      attention=bench_attention,
      train=bench_train,
      sampling=bench_sampling,
      data=functools.partial(bench_data, data_root=data_root),
      tokenizer=bench_tokenizer,
      sampling_memory=bench_sampling_memory,
      pytorch=bench_torch.bench_pytorch,
  )
  for section in SECTIONS:
    if section in sections:
      print(f'[{section}]', flush=True)
      runners[section](rec, p)
      if out is not None:  # after every section: a run stopped by a time limit keeps the rest
        out = pathlib.Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rec.records, indent=1) + '\n')
  if doc is not None:
    command = command or 'python -m lumos_jax ' + ' '.join(['bench', *sys.argv[1:]])
    update_doc(pathlib.Path(doc), render(rec.records, command))
  return rec.records


def main(argv: Sequence[str] | None = None) -> int:
  """`python -m lumos_jax bench [flags]` / `python -m lumos_jax.bench [flags]`."""
  parser = argparse.ArgumentParser(
      prog='python -m lumos_jax bench',
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument('--quick', action='store_true', help='tiny shapes, for smoke tests')
  parser.add_argument(
      '--gpu',
      action='store_true',
      help='the GPU figures of bench/gpu.sh (attention sweep 8k-32k, 1B train step and sampling at '
      '384p, per GPU kernel); at CPU shapes with --quick or without a GPU',
  )
  parser.add_argument(
      '--sections',
      default=','.join(SECTIONS),
      help=f'comma-separated subset of {",".join(SECTIONS)}',
  )
  parser.add_argument('--out', default=str(DEFAULT_OUT), help='JSON records ("" to skip)')
  parser.add_argument('--doc', default=str(DEFAULT_DOC), help='markdown to update ("" to skip)')
  args = parser.parse_args(argv)
  # argv None: run as `python -m lumos_jax.bench`; else called by the CLI with its arguments.
  prog = 'python -m lumos_jax.bench' if argv is None else 'python -m lumos_jax bench'
  command = ' '.join([prog, *(sys.argv[1:] if argv is None else argv)])
  run(
      quick=args.quick,
      gpu=args.gpu,
      sections=[s for s in args.sections.split(',') if s],
      out=args.out or None,
      doc=args.doc or None,
      command=command,
  )
  return 0


if __name__ == '__main__':
  sys.exit(main())
