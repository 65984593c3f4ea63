# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Chunked masked visual cross-entropy against a naive computation (values, grads, per frame)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lumos_jax import loss as loss_lib
from lumos_jax import vocab as vocab_lib
from lumos_jax.vocab import IGNORE

V = vocab_lib.demo(codebook_size=32)
B, L, E = 2, 37, 16


def _case(seed=0):
  rng = np.random.default_rng(seed)
  hidden = jnp.asarray(rng.normal(size=(B, L, E)), jnp.float32)
  head = jnp.asarray(rng.normal(size=(E, V.size)) * 0.3, jnp.float32)
  labels = np.full((B, L), IGNORE)
  targets = rng.random((B, L)) < 0.5
  labels[targets] = V.visual_offset + rng.integers(0, V.codebook_size, targets.sum())
  labels[0, 3] = V.newline  # a masked new-line: not a visual target
  labels[1, 5] = V.byte_offset + 4  # a text label: not a visual target
  frame_ids = np.repeat(np.arange(4), -(-L // 4))[:L][None].repeat(B, 0)
  return hidden, head, jnp.asarray(labels), jnp.asarray(frame_ids)


def _naive(hidden, head, labels, frame_ids, z=0.0):
  logits = (hidden @ head)[..., V.visual_offset : V.visual_end]  # full [B, L, V] then slice
  is_t = (labels >= V.visual_offset) & (labels < V.visual_end)
  code = jnp.where(is_t, labels - V.visual_offset, 0)
  logp = jax.nn.log_softmax(logits, -1)
  ce = -jnp.take_along_axis(logp, code[..., None], -1)[..., 0]
  lse = jax.nn.logsumexp(logits, -1)
  n = is_t.sum()
  loss = (ce * is_t).sum() / n + z * (lse**2 * is_t).sum() / n
  per_frame = [
      (ce * is_t * (frame_ids == f)).sum() / (is_t * (frame_ids == f)).sum() for f in range(4)
  ]
  return loss, jnp.stack(per_frame), n


@pytest.mark.parametrize('chunk', [8, 16, 64])
@pytest.mark.parametrize('z', [0.0, 1e-2])
def test_matches_naive_values_and_grads(chunk, z):
  hidden, head, labels, frame_ids = _case()

  def ours(h, w):
    out = loss_lib.masked_visual_cross_entropy(
        h, w, labels, frame_ids, V, max_frames=6, chunk_size=chunk, z_loss_weight=z
    )
    return out.loss, out

  (loss, out), grads = jax.value_and_grad(ours, argnums=(0, 1), has_aux=True)(hidden, head)
  (want, (want_frames, n)), want_grads = jax.value_and_grad(
      lambda h, w: (lambda r: (r[0], r[1:]))(_naive(h, w, labels, frame_ids, z)),
      argnums=(0, 1),
      has_aux=True,
  )(hidden, head)
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  assert int(out.num_targets) == int(n)
  np.testing.assert_allclose(out.frame_losses[:4], want_frames, rtol=1e-5)
  np.testing.assert_array_equal(out.frame_losses[4:], 0.0)  # no tokens in frames 4, 5
  for g, wg in zip(grads, want_grads):
    np.testing.assert_allclose(g, wg, rtol=1e-4, atol=1e-6)
  # non-visual columns of the head get no gradient: the softmax is over visual codes only
  assert not np.asarray(grads[1][:, : V.visual_offset]).any()


def test_no_targets_gives_zero_loss():
  hidden, head, labels, frame_ids = _case()
  out = loss_lib.masked_visual_cross_entropy(
      hidden, head, jnp.full_like(labels, IGNORE), frame_ids, V, max_frames=4
  )
  assert float(out.loss) == 0.0 and int(out.num_targets) == 0


def test_targets_at_the_end_of_rows_and_uneven_rows():
  """Targets are gathered to the front of each row: rows with targets only in their last
  positions, or with very different counts, give the naive loss and gradients."""
  hidden, head, _, frame_ids = _case(1)
  rng = np.random.default_rng(1)
  labels = np.full((B, L), IGNORE)
  labels[0, L - 3 :] = V.visual_offset + rng.integers(0, V.codebook_size, 3)  # last 3 only
  labels[1, 1:] = V.visual_offset + rng.integers(0, V.codebook_size, L - 1)  # nearly all
  labels = jnp.asarray(labels)

  def ours(h, w):
    out = loss_lib.masked_visual_cross_entropy(
        h, w, labels, frame_ids, V, max_frames=4, chunk_size=8
    )
    return out.loss, out.frame_losses

  (loss, frames), grads = jax.value_and_grad(ours, argnums=(0, 1), has_aux=True)(hidden, head)
  (want, want_frames), want_grads = jax.value_and_grad(
      lambda h, w: (lambda r: (r[0], r[1]))(_naive(h, w, labels, frame_ids)),
      argnums=(0, 1),
      has_aux=True,
  )(hidden, head)
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  np.testing.assert_allclose(frames, want_frames, rtol=1e-5)
  for g, wg in zip(grads, want_grads):
    np.testing.assert_allclose(g, wg, rtol=1e-4, atol=1e-6)


def test_head_skips_blocks_past_the_last_target():
  """Targets are gathered to the front of each row and later blocks are skipped, so the head
  never reads the hidden states there: NaN at non-target positions past the blocks holding
  targets leaves the loss and the head's gradient finite (the backward pass of a block that runs
  spreads a NaN row into the whole head gradient: 0 * NaN)."""
  length, chunk = 96, 40  # 3 blocks of 32
  rng = np.random.default_rng(2)
  hidden = rng.normal(size=(1, length, E)).astype(np.float32)
  head = jnp.asarray(rng.normal(size=(E, V.size)) * 0.3, jnp.float32)
  labels = np.full((1, length), IGNORE)
  targets = np.r_[3:20, 60:90]  # 47 targets: blocks 0 and 1 after gathering
  labels[0, targets] = V.visual_offset + rng.integers(0, V.codebook_size, len(targets))
  frame_ids = jnp.zeros((1, length), jnp.int32)
  want, _, _ = _naive(jnp.asarray(hidden), head, jnp.asarray(labels), frame_ids)
  others = np.setdiff1d(np.arange(length), targets)

  def loss_and_head_grad(h):
    return jax.value_and_grad(
        lambda w: loss_lib.masked_visual_cross_entropy(
            jnp.asarray(h), w, jnp.asarray(labels), frame_ids, V, max_frames=1, chunk_size=chunk
        ).loss
    )(head)

  hidden[0, others[-(length - 64) :]] = np.nan  # the 32 non-targets that land in block 2
  value, grad = loss_and_head_grad(hidden)
  np.testing.assert_allclose(value, want, rtol=1e-5)
  assert np.isfinite(np.asarray(grad)).all()
  hidden[0, others[0]] = np.nan  # a non-target that shares block 1 with targets: it runs
  assert np.isnan(np.asarray(loss_and_head_grad(hidden)[1])).any()
