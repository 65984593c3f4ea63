# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Layout, positions and spans against hand-computed values (spec sections 2, 3.5 and 5)."""

import jax.numpy as jnp
import numpy as np
import pytest

from lumos_jax import layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.vocab import IGNORE

V = vocab_lib.lumos1()
TEXT = [100, 200]  # two text tokens
RNG = np.random.default_rng(0)


def _frames(n, h=4, w=4, rng=RNG):
  return [rng.integers(0, V.codebook_size, (h, w)) for _ in range(n)]


def _t2v_example():
  """The spec's 3.5 worked example: two 4x4 frames (grid 8805), duration 2, fps 12."""
  frames = _frames(2)
  return frames, layout.build_item(TEXT, frames, V, duration=2, fps=12)


def test_t2v_tokens_and_labels_by_hand():
  frames, item = _t2v_example()
  t = item.tokens
  assert len(t) == 57
  np.testing.assert_array_equal(t[:10], [0, 100, 200, 8710, 9004, 8806, 8816, 8197, 8805, 8805])
  # row 0 of frame 0: four codes then a new-line
  np.testing.assert_array_equal(t[10:15], list(65536 + frames[0][0]) + [8803])
  np.testing.assert_array_equal(t[25:30], list(65536 + frames[0][3]) + [8803])
  np.testing.assert_array_equal(t[30:34], [8196, 8197, 8805, 8805])
  np.testing.assert_array_equal(t[34:39], list(65536 + frames[1][0]) + [8803])
  np.testing.assert_array_equal(t[54:], [8196, 9005, 8710])
  np.testing.assert_array_equal(item.labels[:4], [IGNORE] * 4)
  np.testing.assert_array_equal(item.labels[4:], t[4:])


def test_t2i_item_by_hand():
  codes = RNG.integers(0, V.codebook_size, (4, 8))  # 32 x 64 px at 8x compression: grid (1, 2)
  item = layout.t2i_item([7], codes, V)
  t = item.tokens
  np.testing.assert_array_equal(t[:8], [0, 7, 8710, 9004, 8805, 8805, 8197, 8805])
  assert t[8] == 8806  # width grid: 8 latents = 2 units
  assert len(t) == 3 + 3 + 3 + 4 * 9 + 1 + 2
  np.testing.assert_array_equal(t[-3:], [8196, 9005, 8710])


def test_given_frames_and_unconditional():
  frames = _frames(3)
  item = layout.build_item(TEXT, frames, V, duration=1, fps=12, num_given_frames=1)
  block = 4 * 5 + 4
  # prompt (4), header (3) and the first frame carry no target
  assert (item.labels[: 4 + 3 + block] == IGNORE).all()
  np.testing.assert_array_equal(item.labels[7 + block :], item.tokens[7 + block :])
  uncond = layout.build_item(TEXT, frames, V, duration=1, fps=12, unconditional=True)
  assert uncond.tokens[0] == V.video_start
  np.testing.assert_array_equal(uncond.tokens, item.tokens[4:])


def test_positions_match_spec_worked_example():
  _, item = _t2v_example()
  p = layout.mm_rope_positions(item.tokens, V)
  flag0 = list(range(0, 10)) + list(range(30, 34)) + list(range(54, 57))
  assert not p.is_visual[flag0].any()
  assert p.is_visual[10:30].all() and p.is_visual[34:54].all()
  np.testing.assert_array_equal(p.text, np.arange(57))
  for i in flag0:
    assert p.t[i] == p.h[i] == p.w[i] == i
  expected = {  # idx: (t, h, w) from spec 3.5
      10: (10, 10, 10),
      13: (10, 10, 34),
      14: (10, 10, 42),
      15: (10, 18, 10),
      29: (10, 34, 42),
      34: (14, 10, 10),
      38: (14, 10, 42),
      53: (14, 34, 42),
  }
  for i, thw in expected.items():
    assert (p.t[i], p.h[i], p.w[i]) == thw, i


def test_unconditional_offset_is_six():
  frames = _frames(1)
  item = layout.build_item(TEXT, frames, V, duration=1, fps=1, unconditional=True)
  p = layout.mm_rope_positions(item.tokens, V)
  assert (p.t[6], p.h[6], p.w[6]) == (6, 6, 6)


def test_masked_content_still_positioned():
  _, item = _t2v_example()
  masked = item.tokens.copy()
  masked[10:30] = V.mask  # masked codes and new-lines: spans are read from grid tokens only
  a, b = layout.mm_rope_positions(item.tokens, V), layout.mm_rope_positions(masked, V)
  for f in ('t', 'h', 'w', 'is_visual'):
    np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_spans_by_hand():
  _, item = _t2v_example()
  spans = layout.attention_spans(item.tokens, V)
  expected = list(range(7)) + [30] * 24 + [54] * 24 + [55, 56]
  np.testing.assert_array_equal(spans, expected)
  np.testing.assert_array_equal(
      layout.attention_spans(item.tokens, V, frame_bidirectional=False), np.arange(57)
  )


def test_spans_match_official_dense_mask():
  """allowed(q, k) = k <= q or (in_img(q) and in_img(k) and fid(q) == fid(k)) (spec A.3)."""
  frames = _frames(3, 4, 8)
  item = layout.build_item(TEXT * 3, frames, V, duration=1, fps=12)
  t = item.tokens
  cs, ce = np.cumsum(t == 8197), np.cumsum(t == 8196)
  in_img = (cs > ce) | (t == 8197) | (t == 8196)
  q, k = np.meshgrid(np.arange(len(t)), np.arange(len(t)), indexing='ij')
  official = (k <= q) | (in_img[q] & in_img[k] & (cs[q] == cs[k]))
  spans = layout.attention_spans(t, V)
  np.testing.assert_array_equal(k <= spans[:, None], official)


def test_batched_with_padding_and_jax_arrays():
  a = layout.build_item(TEXT, _frames(2), V, duration=2, fps=12).tokens
  b = layout.build_item([5, 6, 7, 8, 9], _frames(1, 8, 4), V, duration=1, fps=12).tokens
  width = max(len(a), len(b)) + 3
  batch = np.zeros((2, width), np.int32)
  batch[0, : len(a)], batch[1, : len(b)] = a, b
  for xp_batch in (batch, jnp.asarray(batch)):
    p = layout.mm_rope_positions(xp_batch, V)
    spans = np.asarray(layout.attention_spans(xp_batch, V))
    seg = np.asarray(layout.segment_ids(xp_batch, V))
    for row, seq in enumerate((a, b)):
      n = len(seq)
      single = layout.mm_rope_positions(seq, V)
      for f in ('text', 't', 'h', 'w', 'is_visual'):
        np.testing.assert_array_equal(np.asarray(getattr(p, f))[row, :n], getattr(single, f))
        pads = np.asarray(getattr(p, f))[row, n:]
        np.testing.assert_array_equal(pads, 0 if f == 'is_visual' else np.arange(n, width))
      np.testing.assert_array_equal(spans[row, :n], layout.attention_spans(seq, V))
      np.testing.assert_array_equal(spans[row, n:], np.arange(n, width))
      np.testing.assert_array_equal(seg[row], np.arange(width) < n)


def test_round_trip():
  frames = _frames(3, 8, 12)
  item = layout.build_item(TEXT, frames, V, duration=2, fps=12)
  padded = np.concatenate([item.tokens, np.zeros(5, np.int32)])
  parsed = layout.parse_video(padded, V)
  assert parsed.complete and (parsed.duration, parsed.fps) == (2, 12)
  np.testing.assert_array_equal(parsed.text, TEXT)
  assert len(parsed.frames) == 3
  for got, want in zip(parsed.frames, frames):
    np.testing.assert_array_equal(got, want)
  # an unfinished generation (no video_end yet) parses the frames it has
  prompt = layout.generation_prompt(TEXT, V, duration=2, fps=12, given_frames=frames[:1])
  partial = layout.parse_video(prompt, V)
  assert not partial.complete and len(partial.frames) == 1


def test_parse_errors_name_the_token():
  item = layout.build_item(TEXT, _frames(1), V, duration=1, fps=12)
  bad = item.tokens.copy()
  bad[14] = 65540  # the first row's new-line replaced by a code
  with pytest.raises(ValueError, match='token 14: expected newline'):
    layout.parse_video(bad, V)
  bad = item.tokens.copy()
  bad[12] = 500  # a text id inside the frame content
  with pytest.raises(ValueError, match='token 12: expected a visual code'):
    layout.parse_video(bad, V)
  with pytest.raises(ValueError, match='token .*: expected image_end'):
    layout.parse_video(item.tokens[:20], V)


def test_build_errors():
  with pytest.raises(ValueError, match='codebook_size'):
    layout.frame_block(np.full((4, 4), 64000), V)
  with pytest.raises(ValueError, match='latent_per_grid'):
    layout.frame_block(np.zeros((6, 4), int), V)
  with pytest.raises(ValueError, match='text range'):
    layout.build_item([70000], _frames(1), V, duration=1, fps=1)


def test_masked_frame_block_and_prompt():
  block = layout.masked_frame_block(4, 4, V)
  assert len(block) == 24 and block[0] == 8197 and block[-1] == 8196
  assert (block[3:23].reshape(4, 5)[:, :4] == V.mask).all()
  assert (block[3:23].reshape(4, 5)[:, 4] == V.newline).all()
  prompt = layout.generation_prompt(TEXT, V, duration=2, fps=12)
  np.testing.assert_array_equal(prompt, [0, 100, 200, 8710, 9004, 8806, 8816])
  uncond = layout.generation_prompt(TEXT, V, duration=2, fps=12, unconditional=True)
  np.testing.assert_array_equal(uncond, [9004, 8806, 8816])


def test_frame_geometry_by_hand():
  # A 2x3-latent frame: [image_start, gh, gw] c c c nl c c c nl [image_end].
  assert layout.frame_content_length(2, 3) == 8
  assert layout.frame_length(2, 3) == 12
  np.testing.assert_array_equal(layout.code_positions(2, 3), [3, 4, 5, 7, 8, 9])
  block = layout.frame_block(_frames(1, 8, 16)[0], V)  # the builder agrees
  assert len(block) == layout.frame_length(8, 16) == 3 + 8 * 17 + 1
  is_code = np.zeros(len(block), bool)
  is_code[layout.code_positions(8, 16)] = True
  np.testing.assert_array_equal(V.is_visual(block), is_code)


def _two_frame_sequence():
  """[bos] t [sep] [vs D F] [is g g c nl ie] [is g g c nl ie] [ve] [sep] and its frame indices."""
  g = V.grid_token(1)
  frame = [V.image_start, g, g, V.visual_offset + 5, V.newline, V.image_end]
  tokens = [V.bos, 100, V.sep, V.video_start, g, g, *frame, *frame, V.video_end, V.sep]
  return np.asarray(tokens, np.int32), [-1] * 6 + [0] * 6 + [1] * 8


def test_frame_index_by_hand():
  tokens, want = _two_frame_sequence()
  np.testing.assert_array_equal(layout.frame_index(tokens, V), want)
  batch = jnp.asarray(np.stack([tokens, np.roll(tokens, 1)]))
  got = layout.frame_index(batch, V)
  assert got.dtype == jnp.int32
  np.testing.assert_array_equal(got, [want, [-1] + want[:-1]])


def test_frame_content_by_hand():
  tokens, _ = _two_frame_sequence()
  want = np.zeros(len(tokens), bool)
  want[[9, 10, 15, 16]] = True  # codes and new-lines; not headers, image_end or separators
  np.testing.assert_array_equal(layout.frame_content(tokens, V), want)
  labels = tokens.copy()
  labels[:12] = IGNORE  # prompt, video header and a given first frame carry no target
  want[:12] = False
  np.testing.assert_array_equal(layout.frame_content(labels, V), want)
  batch = np.stack([labels, np.full_like(labels, IGNORE)])
  np.testing.assert_array_equal(layout.frame_content(jnp.asarray(batch), V), [want, 0 * want])


def test_pad_batch():
  out = layout.pad_batch([[5, 6, 7], np.asarray([8])], V)
  assert out.dtype == np.int32
  np.testing.assert_array_equal(out, [[5, 6, 7], [8, V.pad, V.pad]])
  labels = layout.pad_batch([[1], []], V, length=3, fill=IGNORE)
  np.testing.assert_array_equal(labels, [[1, IGNORE, IGNORE], [IGNORE] * 3])
  with pytest.raises(ValueError, match='row 1 has 3 tokens, more than length=2'):
    layout.pad_batch([[1], [1, 2, 3]], V, length=2)
  with pytest.raises(ValueError, match='row 0: expected a 1-D sequence'):
    layout.pad_batch([[[1]]], V)


@pytest.mark.parametrize(
    'rgb, c, latent',
    [(1, 4, 1), (2, 4, 2), (5, 4, 2), (6, 4, 3), (24, 4, 7), (25, 4, 7), (84, 4, 22), (9, 1, 9)],
)
def test_latent_frames(rgb, c, latent):
  assert layout.latent_frames(rgb, c) == latent  # ceil((T - 1) / c) + 1 by hand
