# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`lumos_jax.flops`: weights, attended pairs and model FLOPs against hand counts; chip peaks."""

import jax
import numpy as np
from flax import nnx

from lumos_jax import flops, layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.model import attention, create_model
from lumos_jax.model.config import ModelConfig

MC = ModelConfig(
    vocab_size=1000,
    embed_dim=64,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    head_dim=32,
    mlp_dim=128,
)


def _row(length=32):
  """BOS, 3 text bytes, SEP, a 3-token video header, 2 frames of 2x2 latents (10 tokens each:
  4 header, 2 rows of 2 codes + new-line, image end), video end, SEP: 30 tokens, then padding."""
  vocab = vocab_lib.demo(codebook_size=16)
  codes = [np.zeros((2, 2), np.int32)] * 2
  item = layout.build_item([vocab.byte_offset + 97] * 3, codes, vocab, duration=2, fps=1)
  assert len(item.tokens) == 30 and layout.frame_length(2, 2) == 10
  return vocab, layout.pad_batch([item.tokens], vocab, length)


def test_decoder_weights_by_hand_and_from_the_model():
  # Per layer: q 64x128 + o 128x64 + k, v 64x64 each + SwiGLU 3 x 64x128 = 49,152 weights.
  assert flops.decoder_weights(MC) == 2 * 49_152
  layers = nnx.state(create_model(MC).layers, nnx.Param)
  norms = sum(x.size for p, x in nnx.to_flat_state(layers) if 'norm' in '/'.join(map(str, p)))
  assert flops.decoder_weights(MC) == sum(x.size for x in jax.tree.leaves(layers)) - norms


def test_attended_pairs_by_hand():
  vocab, row = _row()
  spans, segments = layout.attention_spans(row, vocab), layout.segment_ids(row, vocab)
  # Causal prefix (8 tokens: 1 + ... + 8 keys), frame 1 (10 tokens x keys 0..17), frame 2
  # (10 x keys 0..27), video end and SEP (29 and 30 keys); the 2 padding tokens count nothing.
  assert float(flops.attended_pairs(spans, segments)) == 36 + 10 * 18 + 10 * 28 + 29 + 30
  # The same as the reference attention mask over the real queries.
  mask = np.asarray(attention.span_mask(spans, row.shape[1], segments, segments))
  assert float(flops.attended_pairs(spans, segments)) == mask[segments > 0].sum()
  # Plain causal attention: 1 + 2 + ... + 30.
  causal = layout.attention_spans(row, vocab, frame_bidirectional=False)
  assert float(flops.attended_pairs(causal, segments)) == 30 * 31 / 2


def test_attended_pairs_do_not_overflow_at_64k_tokens():
  length = 65536
  spans = np.broadcast_to(np.arange(length, dtype=np.int32), (8, length))  # causal, 8 rows
  pairs = float(flops.attended_pairs(spans, np.ones_like(spans)))
  np.testing.assert_allclose(pairs, 8 * length * (length + 1) / 2, rtol=1e-6)


def test_model_flops_by_hand():
  f = flops.ModelFlops.of(MC, 100)
  assert f.per_token == 6 * 2 * 49_152
  assert f.per_target == 6 * 64 * 100  # the LM head's 100 visual columns
  assert f.per_pair == 12 * 2 * 4 * 32  # layers x heads x head_dim; 2 matmuls x 2 FLOPs x 3
  assert f(30, 7, 555) == f.per_token * 30 + f.per_target * 7 + f.per_pair * 555


class _Device:

  def __init__(self, kind):
    self.device_kind = kind


def test_peak_flops_only_for_known_chips_in_bfloat16():
  assert flops.peak_flops(_Device('NVIDIA H100 80GB HBM3'), 'bfloat16') == 989e12
  assert flops.peak_flops(_Device('NVIDIA H100 PCIe'), 'bfloat16') == 756e12  # the longer name
  assert flops.peak_flops(_Device('TPU v5 lite'), 'bfloat16') == 197e12
  assert flops.peak_flops(_Device('NVIDIA H100 80GB HBM3'), 'float32') is None
  assert flops.peak_flops(jax.devices('cpu')[0], 'bfloat16') is None
