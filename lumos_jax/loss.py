# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Masked visual cross-entropy (spec 6.7), computed in sequence chunks.

Only positions whose (post-masking) label is a visual code count; logits are restricted to the
visual vocabulary and targets are codes. The loss is a token-level mean over the whole batch. The
LM head is applied chunk by chunk inside a rematerialised scan, so neither the forward nor the
backward pass ever holds [B, L, V] float32 logits: only one [B, chunk, V_visual] block at a time.
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
    chunk_size: positions per LM-head block.
    z_loss_weight: weight of mean(logsumexp^2) over targets (0 in the official recipes).
  """
  b, length, e = hidden.shape
  pad = -length % chunk_size
  if pad:
    hidden = jnp.pad(hidden, ((0, 0), (0, pad), (0, 0)))
    labels = jnp.pad(labels, ((0, 0), (0, pad)), constant_values=-1)
    frame_ids = jnp.pad(frame_ids, ((0, 0), (0, pad)), constant_values=-1)
  n = (length + pad) // chunk_size
  w_vis = lm_head[:, vocab.visual_offset : vocab.visual_end].astype(hidden.dtype)

  def chunks(x):  # [B, L, ...] -> [n, B, chunk, ...]
    return jnp.swapaxes(x.reshape(b, n, chunk_size, *x.shape[2:]), 0, 1)

  @jax.checkpoint  # recompute the block's logits in the backward pass instead of storing them
  def block(h, lab, fid):
    logits = jnp.einsum('bce,ev->bcv', h, w_vis, preferred_element_type=jnp.float32)
    is_target = vocab.is_visual(lab)
    code = jnp.where(is_target, vocab.id_to_code(lab), 0)
    lse = jax.nn.logsumexp(logits, axis=-1)
    ce = lse - jnp.take_along_axis(logits, code[..., None], axis=-1)[..., 0]
    weight = is_target.astype(jnp.float32)
    per_frame = jax.nn.one_hot(fid, max_frames, dtype=jnp.float32) * weight[..., None]
    return (
        jnp.sum(ce * weight),
        jnp.sum(jnp.square(lse) * weight),
        jnp.sum(weight),
        jnp.einsum('bc,bcf->f', ce, per_frame),
        jnp.sum(per_frame, axis=(0, 1)),
    )

  def body(carry, xs):
    return jax.tree.map(jnp.add, carry, block(*xs)), None

  zeros = (0.0, 0.0, 0.0, jnp.zeros(max_frames), jnp.zeros(max_frames))
  init = jax.tree.map(lambda z: jnp.asarray(z, jnp.float32), zeros)
  (ce_sum, z_sum, count, frame_sum, frame_count), _ = jax.lax.scan(
      body, init, (chunks(hidden), chunks(labels), chunks(frame_ids))
  )
  denom = jnp.maximum(count, 1.0)
  cross_entropy = ce_sum / denom
  return LossOutput(
      loss=cross_entropy + z_loss_weight * z_sum / denom,
      cross_entropy=cross_entropy,
      num_targets=count.astype(jnp.int32),
      frame_losses=frame_sum / jnp.maximum(frame_count, 1.0),
      frame_counts=frame_count.astype(jnp.int32),
  )
