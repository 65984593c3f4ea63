# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Masked visual cross-entropy (spec 6.7), computed in blocks of positions.

Only positions whose (post-masking) label is a visual code count; logits are restricted to the
visual vocabulary and targets are codes. The loss is a token-level mean over the whole batch.

The LM head is applied block by block inside a scan, so neither the forward nor the backward pass
ever holds [B, L, V] float32 logits: only one [B, block, V_visual] block at a time. Three things
keep the head, the largest matmul of a small model with the official vocabulary, cheap:
  * it runs on target positions only, as far as static shapes allow: each row's targets are
    moved to its front (in order), and a block past every row's last target is skipped
    (`lax.cond`), so it costs about B x (most targets in a row) positions, not B x L;
  * blocks split L evenly (at most `chunk_size` positions each), so padding adds fewer than one
    position per block;
  * under differentiation each block's gradients are computed in the forward pass, from the
    logits at hand (a custom VJP): 3 head-sized matmuls per block instead of 4 (forward,
    recomputed forward and two backward ones). The head's gradient is accumulated over blocks
    in one [E, V_visual] buffer; the hidden states' gradient is as large as the hidden states.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from lumos_jax.vocab import Vocab


@flax.struct.dataclass
class LossOutput:
  loss: jax.Array  # scalar: cross-entropy (+ z-loss) averaged over target tokens
  cross_entropy: jax.Array  # scalar: the cross-entropy part
  num_targets: jax.Array  # scalar int: tokens in the loss
  frame_losses: jax.Array  # [max_frames] mean cross-entropy per latent frame index (0 if none)
  frame_counts: jax.Array  # [max_frames] target tokens per frame index


def masked_visual_cross_entropy(
    hidden: jax.Array,
    lm_head: jax.Array,
    labels: jax.Array,
    frame_ids: jax.Array,
    vocab: Vocab,
    *,
    max_frames: int,
    chunk_size: int = 256,
    z_loss_weight: float = 0.0,
) -> LossOutput:
  """Cross-entropy over the visual vocabulary at positions whose label is a visual code.

  Args:
    hidden: [B, L, E] final hidden states (compute dtype).
    lm_head: [E, V] LM head kernel; only the visual columns are used.
    labels: int [B, L]; positions with a visual-code label are targets.
    frame_ids: int [B, L] latent frame index of every position (`layout.frame_index`), for
      per-frame metrics; ids outside [0, max_frames) still count in the loss.
    vocab: vocabulary (visual range).
    max_frames: length of the per-frame metric vectors.
    chunk_size: most positions per row in one LM-head block (bounds the [B, block, V_visual]
      float32 logits held at a time).
    z_loss_weight: weight of mean(logsumexp^2) over targets (0 in the official recipes).
  """
  b, length, _ = hidden.shape
  is_target = vocab.is_visual(labels)
  # Every row's targets first, in their order (a stable sort of "not a target").
  order = jnp.argsort(jnp.logical_not(is_target), axis=1, stable=True)
  hidden = jnp.take_along_axis(hidden, order[..., None], axis=1)
  labels = jnp.take_along_axis(labels, order, axis=1)
  frame_ids = jnp.take_along_axis(frame_ids, order, axis=1)
  most_targets = jnp.max(jnp.sum(is_target, axis=1))
  n = -(-length // chunk_size)
  size = -(-length // n)  # n blocks of at most chunk_size, padded by fewer than n positions
  pad = n * size - length
  if pad:
    hidden = jnp.pad(hidden, ((0, 0), (0, pad), (0, 0)))
    labels = jnp.pad(labels, ((0, 0), (0, pad)), constant_values=-1)
    frame_ids = jnp.pad(frame_ids, ((0, 0), (0, pad)), constant_values=-1)
  w_vis = lm_head[:, vocab.visual_offset : vocab.visual_end].astype(hidden.dtype)

  def blocks(x):  # [B, L, ...] -> [n, B, size, ...]
    return jnp.swapaxes(x.reshape(b, n, size, *x.shape[2:]), 0, 1)

  head = _blocked_head(vocab, max_frames, size, z_loss_weight)
  objective, stats = head(blocks(hidden), w_vis, blocks(labels), blocks(frame_ids), most_targets)
  ce_sum, _, count, frame_sum, frame_count = jax.lax.stop_gradient(stats)
  denom = jnp.maximum(count, 1.0)
  cross_entropy = ce_sum / denom
  return LossOutput(
      loss=objective / denom,
      cross_entropy=cross_entropy,
      num_targets=count.astype(jnp.int32),
      frame_losses=frame_sum / jnp.maximum(frame_count, 1.0),
      frame_counts=frame_count.astype(jnp.int32),
  )


def _blocked_head(vocab: Vocab, max_frames: int, size: int, z_loss_weight: float):
  """f(h, w, labels, frame_ids, most_targets) -> (objective, stats) over blocks of positions.

  h: [n, B, size, E] hidden states, targets at the front of every row; w: [E, V_visual];
  labels, frame_ids: int [n, B, size]; most_targets: the longest run of targets in a row (blocks
  from there on are skipped). objective = sum over targets of cross-entropy + z_loss_weight *
  logsumexp^2, differentiable in h and w; stats = (its cross-entropy sum, logsumexp^2 sum, target
  count, per-frame cross-entropy sums and counts), for metrics: their cotangents are ignored, so
  they must be used under `stop_gradient`.
  """

  def block_logits(h, w):  # [B, size, E] -> float32 [B * size, V]
    # One 2-D matmul over the block's positions (a batched 3-D one makes XLA:CPU transpose the
    # [B, size, V] logit gradient for the head's gradient).
    return jnp.dot(h.reshape(-1, h.shape[-1]), w, preferred_element_type=jnp.float32)

  def block_stats(logits, lab, fid):
    lab, fid = lab.reshape(-1), fid.reshape(-1)
    target = vocab.is_visual(lab)
    code = jnp.where(target, vocab.id_to_code(lab), 0)
    lse = jax.nn.logsumexp(logits, axis=-1)
    ce = lse - jnp.take_along_axis(logits, code[:, None], axis=-1)[:, 0]
    weight = target.astype(jnp.float32)
    per_frame = jax.nn.one_hot(fid, max_frames, dtype=jnp.float32) * weight[:, None]
    stats = (
        jnp.sum(ce * weight),
        jnp.sum(jnp.square(lse) * weight),
        jnp.sum(weight),
        ce @ per_frame,
        jnp.sum(per_frame, axis=0),
    )
    return stats, (code, lse, weight)

  def zero_stats():
    zeros = (0.0, 0.0, 0.0, jnp.zeros(max_frames), jnp.zeros(max_frames))
    return jax.tree.map(lambda z: jnp.asarray(z, jnp.float32), zeros)

  def add(a, b):
    return jax.tree.map(jnp.add, a, b)

  def objective(stats):
    return stats[0] + z_loss_weight * stats[1]

  def run(h, w, labels, frame_ids, most_targets):
    def body(carry, xs):
      i, h, lab, fid = xs
      out = jax.lax.cond(
          i * size < most_targets,  # targets sit at the front of every row
          lambda: block_stats(block_logits(h, w), lab, fid)[0],
          zero_stats,
      )
      return add(carry, out), None

    steps = jnp.arange(h.shape[0])
    stats, _ = jax.lax.scan(body, zero_stats(), (steps, h, labels, frame_ids))
    return objective(stats), stats

  def run_with_grads(h, w, labels, frame_ids, most_targets):
    def with_grads(h, lab, fid, dw):
      logits = block_logits(h, w)
      stats, (code, lse, weight) = block_stats(logits, lab, fid)
      # d/dlogits of weight * (lse - logit[code] + z lse^2) = weight * ((1 + 2 z lse) p - 1[code])
      probs = jnp.exp(logits - lse[:, None])
      dlogits = probs * (weight * (1.0 + 2.0 * z_loss_weight * lse))[:, None]
      dlogits = dlogits.at[jnp.arange(code.shape[0]), code].add(-weight).astype(h.dtype)
      dh = jnp.dot(dlogits, w.T, preferred_element_type=jnp.float32).reshape(h.shape)
      h2 = h.reshape(-1, h.shape[-1])
      dw = dw + jnp.dot(h2.T, dlogits, preferred_element_type=jnp.float32)
      return stats, dh.astype(h.dtype), dw

    def skip(h, lab, fid, dw):
      del lab, fid
      return zero_stats(), jnp.zeros_like(h), dw

    def body(carry, xs):
      stats, dw = carry
      i, h, lab, fid = xs
      out, dh, dw = jax.lax.cond(i * size < most_targets, with_grads, skip, h, lab, fid, dw)
      return (add(stats, out), dw), dh

    steps = jnp.arange(h.shape[0])
    init = (zero_stats(), jnp.zeros(w.shape, jnp.float32))
    (stats, dw), dh = jax.lax.scan(body, init, (steps, h, labels, frame_ids))
    return (objective(stats), stats), (dh, dw.astype(w.dtype))

  def backward(residuals, cotangents):
    dh, dw = residuals
    g = cotangents[0]  # of the objective; the stats' are ignored (see the docstring)
    return (g.astype(dh.dtype) * dh, g.astype(dw.dtype) * dw, None, None, None)

  head = jax.custom_vjp(run)
  head.defvjp(run_with_grads, backward)
  return head
