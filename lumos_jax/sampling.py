# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Text-to-image, text-to-video and image-to-video sampling (spec section 7).

Frames are generated one at a time. A frame starts fully masked (new-lines given) and is filled in
`steps` MaskGIT iterations: classifier-free guidance between the conditional sequence and the
unconditional one (the same sequence from video_start on, spec 7.3), both rows in ONE batched
forward pass; sampling over the visual vocabulary only; the least confident tokens (log-prob plus
annealed Gumbel noise) are re-masked following the cosine schedule. A finished frame enters the KV
cache history-masked with the fixed AR-DF pattern (spec 7.6), so that history looks like the
tube-masked context frames seen in training; the returned tokens are the unmasked ones.

Shapes are fixed per (batch, resolution, frame count, prompt bucket): the per-frame function is
jitted once and called for every frame with the frame index as data.

Every prompt row draws from its own key (`generate(seed=...)`: row i uses seed + i, or the given
per-row seeds), so a sample does not depend on which other prompts share its batch, nor on how the
batch is split over devices: with a `mesh`, the prompts are split into one contiguous group per
device of the batch axes, and each group's conditional and unconditional rows sit together on its
device, so guidance never moves logits between devices.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from typing import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from lumos_jax import ardf, layout, parallel
from lumos_jax.model import Decoder, Inputs, init_cache, prepare_inputs
from lumos_jax.vocab import Vocab

TEMPERATURE_MODES = ('official', 'per_frame')
_PROMPT_BUCKET = 32  # prompt widths are padded to a multiple of this to bound recompilation
_step_listener: Callable[[int, int], None] | None = None
_STEP_LISTENER_LOCK = threading.Lock()


@contextlib.contextmanager
def step_listener(fn: Callable[[int, int], None]) -> Iterator[None]:
  """Within the block, samplers with `report_steps=True` call fn(frame, step) after every MaskGIT
  step (the web app's progress bar).

  A frame's steps run inside one jitted loop, so the report is a `jax.debug.callback` in the loop
  body, compiled in only with `report_steps` (a static config field: the program without it is
  unchanged). The listener is a module-level slot read on the host, so changing it does not
  recompile; blocks are serialised by a lock (one reporting generation at a time per process).
  The call comes from a runtime thread.
  """
  global _step_listener
  with _STEP_LISTENER_LOCK:
    _step_listener = fn
    try:
      yield
    finally:
      _step_listener = None


def _report_step(frame, step, done) -> None:
  del done  # an element of the step's codes: orders the call after the step's work
  if _step_listener is not None:
    _step_listener(int(frame), int(step))


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
  """Sampler settings; defaults are the official T2V inference (spec 7.1).

  Attributes:
    steps: MaskGIT iterations per frame.
    cfg_scale: guidance scale g (logits = uncond + g * (cond - uncond)); None disables guidance
      and runs the conditional rows only.
    temperature: initial Gumbel temperature.
    temperature_mode: 'official' anneals tau <- tau * (1 - (s + 1) / steps) cumulatively over the
      whole video and never resets it, so every frame after the first generated one is decoded at
      tau = 0 (spec 7.5 item 9, as the official weights were evaluated); 'per_frame' restarts the
      same schedule from `temperature` at every frame, so every frame is decoded like the first.
    history_mask_ratio: fraction of each finished frame's content masked before it enters the
      cache (official 0.7).
    mask_given_frames: also history-mask the given (I2V) frames before they enter the cache. Off
      by default: the official sampler caches them unmasked (spec 7.6 b, as coded; the released
      weights were evaluated that way); on, they look like training-time context frames.
    top_k: keep the k most likely codes (0: all); top_p: nucleus mass (1.0: all).
    use_cache: False recomputes the whole sequence at every step (reference path for tests).
    position_chunk: the visual logits [prompts, positions, codes] of a step are computed and
      sampled this many positions at a time (memory); the result does not depend on it.
    report_steps: call the `step_listener` after every MaskGIT step (see there).
  """

  steps: int = 50
  cfg_scale: float | None = 15.0
  temperature: float = 1.0
  temperature_mode: str = 'official'
  history_mask_ratio: float = 0.7
  mask_given_frames: bool = False
  top_k: int = 0
  top_p: float = 1.0
  use_cache: bool = True
  position_chunk: int = 1024
  report_steps: bool = False

  def __post_init__(self):
    def fail(field, msg):
      raise ValueError(f'sample.{field}={getattr(self, field)!r}: {msg}')

    if self.steps < 1:
      fail('steps', 'must be >= 1')
    if self.cfg_scale is not None and self.cfg_scale < 0:
      fail('cfg_scale', 'must be >= 0 or None')
    if self.temperature < 0:
      fail('temperature', 'must be >= 0')
    if self.temperature_mode not in TEMPERATURE_MODES:
      fail('temperature_mode', f'expected one of {TEMPERATURE_MODES}')
    if not 0 < self.history_mask_ratio <= 1:
      fail('history_mask_ratio', 'must lie in (0, 1]')
    if self.top_k < 0:
      fail('top_k', 'must be >= 0')
    if not 0 < self.top_p <= 1:
      fail('top_p', 'must lie in (0, 1]')
    if self.position_chunk < 1:
      fail('position_chunk', 'must be >= 1')


@dataclasses.dataclass(frozen=True)
class Request:
  """What to generate, for a batch of prompts.

  height, width are in latents (multiples of vocab.latent_per_grid); duration/fps are the RGB
  values written in the video header; given_frames (I2V) are [k, height, width] codes per prompt.
  """

  prompts: Sequence[Sequence[int]]  # text ids per sample (no BOS / separator)
  num_frames: int  # latent frames in the output, given ones included
  height: int
  width: int
  duration: int = 1
  fps: int = 1
  given_frames: Sequence[np.ndarray] | None = None


@dataclasses.dataclass(frozen=True)
class Samples:
  tokens: np.ndarray  # int32 [B, L]: conditional sequences + video_end, padded with vocab.pad
  frames: np.ndarray  # int32 [B, T, height, width] codes


def _top_k_top_p(logits: jax.Array, top_k: int, top_p: float) -> jax.Array:
  """Keeps the top_k largest logits and the smallest prefix of mass >= top_p (others -inf)."""
  if top_k:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, -jnp.inf, logits)
  if top_p < 1.0:
    descending = -jnp.sort(-logits, axis=-1)
    probs = jax.nn.softmax(descending, axis=-1)
    keep = jnp.cumsum(probs, axis=-1) - probs < top_p  # always keeps the best token
    cutoff = jnp.min(jnp.where(keep, descending, jnp.inf), axis=-1, keepdims=True)
    logits = jnp.where(logits < cutoff, -jnp.inf, logits)
  return logits


def draw_codes(u: jax.Array, logits: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Samples one code per position from softmax(logits) by inverse CDF with the uniforms `u`.

  Returns (codes, their probabilities). Given `u`, the draw of a position depends on its own
  logits only, so positions may be drawn in any chunks. For u ~ U[0, 1) the code is distributed
  as softmax(logits) (the first code whose cumulative probability exceeds u; codes of zero
  probability, e.g. cut by top-k, are never drawn). One uniform per position instead of
  `jax.random.categorical`'s Gumbel noise per position and code: a [positions, 64000] random
  array less per step.

  Args:
    u: uniforms [...]; logits: [..., V].
  """
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  cdf = jnp.cumsum(probs, axis=-1)
  threshold = u * cdf[..., -1]  # the total is 1 up to rounding
  codes = jnp.minimum(jnp.sum(cdf <= threshold[..., None], axis=-1), logits.shape[-1] - 1)
  return codes, jnp.take_along_axis(probs, codes[..., None], axis=-1)[..., 0]


def remask(
    key: jax.Array,
    sampled: jax.Array,
    p_sel: jax.Array,
    codes: jax.Array,
    step: jax.Array,
    num_steps: int | jax.Array,
    tau: jax.Array,
    mask_id: int,
    visual_offset: int,
) -> jax.Array:
  """MaskGIT's commit (spec 7.5 items 7-11) for the drawn visual indices `sampled` [..., N] with
  probabilities `p_sel`: unknown positions take their draw, and before the last step the
  `mask_len` least confident of them (log-prob plus tau-scaled Gumbel noise) are masked again."""
  unknown = codes == mask_id
  sampled = jnp.where(unknown, sampled + visual_offset, codes)
  n = codes.shape[-1]
  # The training masks' cosine schedule, so that inference walks the ratios training saw.
  mask_len = jnp.floor(n * ardf.schedule('cosine', (step + 1) / num_steps)).astype(jnp.int32)
  num_unknown = unknown.sum(-1, keepdims=True)
  mask_len = jnp.maximum(1, jnp.minimum(num_unknown - 1, mask_len))
  u = jax.random.uniform(key, p_sel.shape, minval=0.0, maxval=1.0)
  gumbel = -jnp.log(jnp.maximum(-jnp.log(jnp.maximum(u, 1e-20)), 1e-20))
  # Known tokens get infinite confidence so they are never re-masked (the official code uses
  # float32 max; any value above every log-probability behaves the same).
  confidence = jnp.where(unknown, jnp.log(jnp.maximum(p_sel, 1e-20)) + tau * gumbel, jnp.inf)
  cutoff = jnp.take_along_axis(jnp.sort(confidence, axis=-1), mask_len, axis=-1)
  return jnp.where((step == num_steps - 1) | ~(confidence < cutoff), sampled, mask_id)


def maskgit_update(
    key: jax.Array,
    logits: jax.Array,
    codes: jax.Array,
    step: jax.Array,
    num_steps: int,
    tau: jax.Array,
    mask_id: int,
    visual_offset: int,
) -> jax.Array:
  """One MaskGIT iteration (spec 7.5 items 4-11) on visual logits [..., N, V_vis].

  `codes` holds visual ids or `mask_id`; returns the new codes: at the last step every position
  takes its sample, otherwise the `mask_len` least confident unknown positions are re-masked.
  The sampler runs the same draw and commit with the logits computed in chunks of positions.
  """
  k_sample, k_gumbel = jax.random.split(key)
  sampled, p_sel = draw_codes(jax.random.uniform(k_sample, codes.shape), logits)
  return remask(k_gumbel, sampled, p_sel, codes, step, num_steps, tau, mask_id, visual_offset)


class Sampler:
  """Generates videos with a decoder; one instance per model (jitted functions are cached).

  With a `mesh` (lumos_jax.parallel.make_mesh), the parameters are replicated on its devices and
  the prompts of a request are split over its batch axes ('data', 'fsdp'): the number of prompts
  must then be a multiple of their size.
  """

  def __init__(
      self,
      model: Decoder,
      vocab: Vocab,
      config: SamplingConfig = SamplingConfig(),
      mesh: jax.sharding.Mesh | None = None,
  ):
    self.vocab = vocab
    self.config = config
    self.model_config = model.config
    self.graphdef, self.state = nnx.split(model)
    self.mesh = mesh
    self.groups = 1
    if mesh is not None:
      self.groups = int(np.prod([mesh.shape[a] for a in parallel.BATCH_AXES]))
      if not isinstance(jax.tree.leaves(self.state)[0], jax.ShapeDtypeStruct):
        self.state = jax.device_put(self.state, NamedSharding(mesh, P()))

  def _place(self, tree, batch_dim: int = 0):
    """`tree` with its leaves' `batch_dim` split over the mesh's batch axes (no-op without one)."""
    if self.mesh is None:
      return tree

    def one(x):
      spec = [None] * np.ndim(x)
      spec[batch_dim] = parallel.BATCH_AXES
      return jax.device_put(x, NamedSharding(self.mesh, P(*spec)))

    return jax.tree.map(one, tree)

  # -- sequence construction (host) ---------------------------------------------------------

  def _sequences(self, request: Request):
    """Full-length layouts of the rows (cond, then uncond if guided) and their prompt lengths.

    Returns (full [R, Lf], prompt_lengths [R], prompt_width, num_given) where `full` holds the
    complete final layout of every row (prompt with the given frames history-masked, every
    generated frame fully masked, video_end) from which the metadata is computed once, and the
    prompts of all rows fit in the first `prompt_width` (a bucket multiple) positions. Rows are
    grouped per device group: [group, pass (cond, uncond), prompt of the group].
    """
    v, r = self.vocab, request
    given = [None] * len(r.prompts) if r.given_frames is None else list(r.given_frames)
    num_given = 0 if r.given_frames is None else len(given[0])
    if len(given) != len(r.prompts) or any(
        np.shape(g) != (num_given, r.height, r.width) for g in given if g is not None
    ):
      raise ValueError(
          f'given_frames must hold one [k, {r.height}, {r.width}] array of codes per '
          f'prompt with the same k, got shapes {[np.shape(g) for g in given]}'
      )
    if len(r.prompts) % self.groups:
      raise ValueError(
          f'{len(r.prompts)} prompts do not split over the {self.groups} devices of the '
          "mesh's batch axes: give a multiple of it"
      )
    per = len(r.prompts) // self.groups
    passes = (False, True) if self.config.cfg_scale is not None else (False,)
    rows = []
    for group in range(self.groups):
      for unconditional in passes:
        for i in range(group * per, (group + 1) * per):
          text, frames = r.prompts[i], [] if given[i] is None else list(given[i])
          rows.append(
              layout.generation_prompt(
                  text,
                  v,
                  duration=r.duration,
                  fps=r.fps,
                  given_frames=frames,
                  unconditional=unconditional,
              )
          )
    lengths = np.array([len(p) for p in rows])
    # Given frames enter the cache unmasked as in the official sampler (spec 7.6 b), or
    # history-masked with `mask_given_frames`.
    frame_len = layout.frame_length(r.height, r.width)
    views = []
    for p in rows:
      if num_given and self.config.mask_given_frames:
        frames = p[len(p) - num_given * frame_len :].reshape(num_given, frame_len)
        masked = ardf.history_mask(
            jnp.asarray(frames),
            layout.frame_content_length(r.height, r.width),
            self.config.history_mask_ratio,
            v.mask,
        )
        p = np.concatenate([p[: len(p) - num_given * frame_len], np.asarray(masked).reshape(-1)])
      views.append(p)
    width = -(-lengths.max() // _PROMPT_BUCKET) * _PROMPT_BUCKET
    tail = np.concatenate(
        [
            np.tile(layout.masked_frame_block(r.height, r.width, v), r.num_frames - num_given),
            [v.video_end],
        ]
    )
    full = layout.pad_batch([np.concatenate([p, tail]) for p in views], v, width + len(tail))
    return full, lengths, width, num_given

  # -- ahead-of-time plans ---------------------------------------------------------------------

  def compiled(self, request: Request) -> dict[str, jax.stages.Compiled]:
    """The compiled prompt prefill and per-frame program of `generate(request)`, not run.

    The sampler may hold an abstract model (`nnx.eval_shape(lambda: create_model(config))`):
    nothing of the model or cache is allocated, so `.memory_analysis()` of the results gives a
    generation's device memory at real shapes (e.g. 3B at 384p) on any machine.
    """
    c, mc = self.config, self.model_config
    full, lengths, width, num_given = self._sequences(request)
    inputs = prepare_inputs(full, self.vocab, mc)
    cache = jax.eval_shape(lambda: init_cache(mc, batch=len(full), size=full.shape[1]))
    lengths = jnp.asarray(lengths, jnp.int32)
    tau = jnp.asarray(c.temperature, jnp.float32)
    return {
        'prefill': _prefill.lower(
            self.graphdef, self.state, cache, inputs[:, :width], lengths
        ).compile(),
        'frame': _generate_frame.lower(
            self.graphdef,
            _program_config(c),
            self.vocab,
            request.height,
            request.width,
            self.groups,
            self.state,
            inputs.tokens,
            cache if c.use_cache else None,
            inputs,
            jnp.int32(num_given),
            _row_keys(0, len(request.prompts)),
            tau,
            _knobs(c),
        ).compile(),
    }

  # -- generation ---------------------------------------------------------------------------

  def generate(
      self,
      request: Request,
      seed: int | Sequence[int] = 0,
      progress: Callable | None = None,
  ) -> Samples:
    """Generates `request.num_frames` frames per prompt (given frames included).

    Args:
      request: the prompts and shapes.
      seed: prompt i samples with seed + i, or with seed[i] for a sequence of per-prompt seeds;
        a prompt's sample depends only on its own seed (not on the batch or the mesh).
      progress: called with the frame index after every generated frame.
    """
    v, c = self.vocab, self.config
    b = len(request.prompts)
    full, lengths, width, num_given = self._sequences(request)
    if num_given >= request.num_frames:
      raise ValueError(
          f'num_frames={request.num_frames} leaves nothing to generate after '
          f'{num_given} given frames'
      )
    inputs = self._place(prepare_inputs(full, v, self.model_config))
    cache = None
    if c.use_cache:
      cache = init_cache(self.model_config, batch=len(full), size=full.shape[1])
      cache = cache.replace(
          k=self._place(cache.k, 1), v=self._place(cache.v, 1), lengths=self._place(cache.lengths)
      )
      cache = _prefill(
          self.graphdef,
          self.state,
          cache,
          inputs[:, :width],
          self._place(jnp.asarray(lengths, jnp.int32)),
      )
    keys = self._place(_row_keys(seed, b))
    tau = jnp.asarray(c.temperature, jnp.float32)
    frame_fn = functools.partial(
        _generate_frame,
        self.graphdef,
        _program_config(c),
        v,
        request.height,
        request.width,
        self.groups,
    )
    # The model's view of the rows: history-masked frames; the output keeps the sampled ones.
    view = jnp.copy(inputs.tokens)  # donated to the frame calls; `inputs` stays
    generated = []
    for f in range(num_given, request.num_frames):
      codes, view, cache, tau = frame_fn(
          self.state, view, cache, inputs, jnp.int32(f), keys, tau, _knobs(c)
      )
      generated.append(np.asarray(codes).reshape(b, request.height, request.width))
      if progress is not None:
        progress(f)
    out_frames = np.stack(generated, axis=1) - v.visual_offset
    if num_given:
      out_frames = np.concatenate([np.asarray(request.given_frames), out_frames], axis=1)
    seqs = [
        np.concatenate(
            [
                layout.generation_prompt(
                    text, v, duration=request.duration, fps=request.fps, given_frames=list(frames)
                ),
                [v.video_end],
            ]
        )
        for text, frames in zip(request.prompts, out_frames)
    ]
    return Samples(tokens=layout.pad_batch(seqs, v), frames=out_frames.astype(np.int32))


def _program_config(config: SamplingConfig) -> SamplingConfig:
  """What a compiled frame program depends on: guidance on or off but not its scale; the scale,
  the step count and the temperature are data (`_knobs`), so changing them never recompiles."""
  return dataclasses.replace(
      config, cfg_scale=None if config.cfg_scale is None else 1.0, steps=1, temperature=1.0
  )


def _knobs(config: SamplingConfig) -> dict[str, jax.Array]:
  return {
      'cfg_scale': jnp.float32(1.0 if config.cfg_scale is None else config.cfg_scale),
      'steps': jnp.int32(config.steps),
      'temperature': jnp.float32(config.temperature),
  }


def _row_keys(seed: int | Sequence[int], num: int) -> jax.Array:
  """One PRNG key per prompt: seed + i, or the given per-prompt seeds."""
  seeds = np.arange(num) + seed if np.ndim(seed) == 0 else np.asarray(seed)
  if seeds.shape != (num,):
    raise ValueError(f'expected one seed per prompt ({num}), got {len(seeds)}')
  return jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, jnp.uint32))


def _row_slice(x: jax.Array, starts: jax.Array, size: int) -> jax.Array:
  """x[r, starts[r] : starts[r] + size] for every row r."""
  return jax.vmap(lambda row, s: jax.lax.dynamic_slice_in_dim(row, s, size, axis=0))(x, starts)


# The cache (and the model's view of the rows) are replaced by every call: donated, so a call
# updates them in place instead of holding an input and an output copy (2 x 1.9 GiB for 1B at 384p).
@functools.partial(jax.jit, static_argnums=0, donate_argnums=2)
def _prefill(graphdef, state, cache, prompts: Inputs, lengths):
  """Runs the prompt columns from slot 0 and commits each row's real prompt length.

  Slots past a row's length hold the start of its tail; later frames overwrite them.
  """
  model = nnx.merge(graphdef, state)
  _, cache = model(prompts, cache=cache.with_lengths(0))
  return cache.with_lengths(lengths)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5), donate_argnums=(7, 8))
def _generate_frame(
    graphdef,
    config: SamplingConfig,
    vocab: Vocab,
    height: int,
    width: int,
    groups: int,
    state,
    view,
    cache,
    inputs: Inputs,
    frame,
    keys,
    tau,
    knobs,
):
  """Fills frame `frame` of every row with `knobs['steps']` MaskGIT steps, then commits it.

  Rows are [groups, passes (cond, uncond if guided), prompts of the group] (Sampler._sequences);
  `keys` holds one PRNG key per prompt; `knobs` the guidance scale, step count and temperature
  (`_knobs`; `config` is `_program_config`). Returns (codes [B, N] visual ids, updated view,
  cache, tau).
  """
  model = nnx.merge(graphdef, state)
  rows = view.shape[0]
  guided = config.cfg_scale is not None
  b = rows // 2 if guided else rows
  passes = rows // b

  def by_pass(x):  # [rows, ...] -> [groups, passes, prompts per group, ...]
    return x.reshape(groups, passes, b // groups, *x.shape[1:])

  def prompt_major(x):  # [groups, prompts per group, ...] -> [b, ...]
    return x.reshape(b, *x.shape[2:])

  frame_len = layout.frame_length(height, width)
  # Frames are contiguous equal blocks from each row's first image_start (given frames included).
  first = jnp.argmax(inputs.tokens == vocab.image_start, axis=-1)
  starts = (first + frame * frame_len).astype(jnp.int32)
  chunk = jax.tree.map(lambda x: _row_slice(x, starts, frame_len), inputs)
  block = _row_slice(view, starts, frame_len)  # header, masked codes + new-lines, image_end
  code_pos = layout.code_positions(height, width)

  def with_codes(tokens, codes):
    grouped = codes.reshape(groups, 1, b // groups, -1)
    every_row = jnp.broadcast_to(grouped, (groups, passes, *grouped.shape[2:]))
    return tokens.at[:, code_pos].set(every_row.reshape(rows, -1))

  def write(rows_, tokens):
    return jax.vmap(lambda r, s, t: jax.lax.dynamic_update_slice_in_dim(r, t, s, 0))(
        rows_, starts, tokens
    )

  def frame_hidden(tokens):
    """Hidden states of the frame chunk: from the cache, or recomputed over the whole view."""
    if cache is not None:
      return model(chunk.replace(tokens=tokens), cache=cache)[0]
    hidden, _ = model(inputs.replace(tokens=write(view, tokens)))
    return _row_slice(hidden, starts, frame_len)

  n = height * width
  per_chunk = min(config.position_chunk, n)
  num_chunks = -(-n // per_chunk)
  # Code positions per chunk (the last chunk padded with repeats; their draws are dropped).
  chunk_pos = np.resize(code_pos, num_chunks * per_chunk).reshape(num_chunks, per_chunk)

  def draw_chunk(hidden, u, positions):
    """(drawn visual indices, their probabilities) [b, per_chunk] of one chunk of positions."""
    logits = model.logits(hidden[:, positions], vocab.visual_offset, vocab.visual_end)
    if guided:
      cond, uncond = prompt_major(by_pass(logits)[:, 0]), prompt_major(by_pass(logits)[:, 1])
      # = uncond + g * (cond - uncond), written so that g = 1 gives exactly cond
      logits = cond + (knobs['cfg_scale'] - 1.0) * (cond - uncond)
    return draw_codes(u, _top_k_top_p(logits, config.top_k, config.top_p))

  def step_fn(s, carry):
    codes, tau = carry
    hidden = frame_hidden(with_codes(block, codes))
    tau = tau * (1.0 - (s + 1) / knobs['steps'])
    # Each prompt's own stream: its sample does not depend on the rest of the batch.
    step_keys = jax.vmap(lambda k: jax.random.fold_in(jax.random.fold_in(k, frame), s))(keys)
    k_sample, k_gumbel = jnp.moveaxis(jax.vmap(jax.random.split)(step_keys), 1, 0)
    u = jax.vmap(lambda k: jax.random.uniform(k, (n,)))(k_sample)  # as maskgit_update draws
    # The [b, positions, visual codes] logits exist one chunk at a time (sampler memory).
    u = jnp.pad(u, ((0, 0), (0, num_chunks * per_chunk - n)))
    u = jnp.moveaxis(u.reshape(b, num_chunks, per_chunk), 1, 0)
    sampled, p_sel = jax.lax.map(
        lambda xs: draw_chunk(hidden, *xs), (u, jnp.asarray(chunk_pos, jnp.int32))
    )
    sampled, p_sel = (jnp.moveaxis(x, 0, 1).reshape(b, -1)[:, :n] for x in (sampled, p_sel))
    commit = functools.partial(
        remask,
        step=s,
        num_steps=knobs['steps'],
        tau=tau,
        mask_id=vocab.mask,
        visual_offset=vocab.visual_offset,
    )
    codes = jax.vmap(commit)(k_gumbel, sampled, p_sel, codes)
    if config.report_steps:
      jax.debug.callback(_report_step, frame, s, codes[0, 0])
    return codes, tau

  if config.temperature_mode == 'per_frame':
    tau = knobs['temperature']
  codes = jnp.full((b, height * width), vocab.mask, jnp.int32)
  codes, tau = jax.lax.fori_loop(0, knobs['steps'], step_fn, (codes, tau))
  # Commit: the finished frame, history-masked, enters the cache and the model's view.
  content_len = layout.frame_content_length(height, width)
  committed = ardf.history_mask(
      with_codes(block, codes), content_len, config.history_mask_ratio, vocab.mask
  )
  if cache is not None:
    _, cache = model(chunk.replace(tokens=committed), cache=cache)
    cache = cache.advance(frame_len)
  return codes, write(view, committed), cache, tau
