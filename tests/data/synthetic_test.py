# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Synthetic clips: determinism, the held-out split, pixels and motion by hand, captions, errors."""

import dataclasses
import itertools

import numpy as np
import pytest

from lumos_jax.data import synthetic
from lumos_jax.data.synthetic import Attributes

IMAGE_XY = {'left': (-1, 0), 'right': (1, 0), 'up': (0, -1), 'down': (0, 1)}  # rows grow down


def _object_mask(video, attributes):
  return np.any(video != synthetic.BACKGROUNDS[attributes.background], axis=-1)  # [T, H, W]


def test_generation_is_deterministic_and_seeded():
  a, b = synthetic.generate(6, seed=3), synthetic.generate(6, seed=3)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x.video, y.video)
    assert (x.caption, x.attributes) == (y.caption, y.attributes)
  c = synthetic.generate(6, seed=4)
  assert [x.attributes for x in a] != [x.attributes for x in c]
  # Random access: example i does not depend on how many are generated.
  d = synthetic.example(5, seed=3)
  np.testing.assert_array_equal(d.video, a[5].video)
  assert d.caption == a[5].caption


def test_held_out_rule_by_hand():
  # (2 * shape + colour + direction) % 7 == 0 with shapes (circle, square, triangle), colours
  # (red, green, blue, yellow, magenta, cyan, white), directions (left, right, up, down, static).
  assert synthetic.is_held_out('circle', 'red', 'left')  # 0 + 0 + 0
  assert synthetic.is_held_out('square', 'magenta', 'right')  # 2 + 4 + 1
  assert synthetic.is_held_out('triangle', 'red', 'down')  # 4 + 0 + 3
  assert synthetic.is_held_out('circle', 'yellow', None)  # 0 + 3 + 4
  assert not synthetic.is_held_out('circle', 'red', 'right')
  held = synthetic.combos('heldout')
  assert len(held) == 12 and len(synthetic.combos('train')) == 3 * 7 * 4 - 12
  # Exactly one colour per (shape, direction); every attribute value stays in training.
  for shape, direction in itertools.product(synthetic.SHAPES, synthetic.DIRECTIONS):
    assert sum(c[0] == shape and c[2] == direction for c in held) == 1
  train = synthetic.combos('train')
  for i, values in enumerate((synthetic.SHAPES, synthetic.COLOURS, synthetic.DIRECTIONS)):
    assert {c[i] for c in train} == set(values)
  assert {c[:2] for c in train} == set(itertools.product(synthetic.SHAPES, synthetic.COLOURS))


@pytest.mark.parametrize('frames', [8, 1])
def test_train_split_never_shows_held_out_combos(frames):
  held = set(synthetic.combos('heldout', static=frames == 1))
  train = synthetic.generate(600, seed=0, frames=frames)
  seen = {e.attributes.combo for e in train}
  assert not seen & held
  assert len(seen) == len(synthetic.combos('train', static=frames == 1))  # all of them, by 600
  assert {
      e.attributes.combo for e in synthetic.generate(60, seed=0, split='heldout', frames=frames)
  } == held


def test_render_square_by_hand():
  # 64 px frame: large = 32 px (radius 16, centre (16, 32)); fast = 0.5 frame/s = 4 px per frame
  # at 8 fps.
  attributes = Attributes('square', 'red', 'right', 'fast', 'large', 'gray', start=(0.25, 0.5))
  video = synthetic.render(attributes, frames=3, size=64, fps=8)
  assert video.shape == (3, 64, 64, 3) and video.dtype == np.uint8
  for t in range(3):
    expected = np.zeros((64, 64), bool)
    expected[16:48, 4 * t : 32 + 4 * t] = True
    np.testing.assert_array_equal(_object_mask(video[t], attributes), expected)
  np.testing.assert_array_equal(video[0, 30, 10], (230, 25, 25))
  np.testing.assert_array_equal(video[0, 0, 0], (110, 110, 110))


@pytest.mark.parametrize('direction', list(synthetic.DIRECTIONS))
@pytest.mark.parametrize('shape', synthetic.SHAPES)
def test_motion_read_back_from_pixels(shape, direction):
  attributes = Attributes(shape, 'cyan', direction, 'slow', 'small', 'navy')
  video = synthetic.render(attributes, frames=6, size=48, fps=6)
  mask = _object_mask(video, attributes)
  ys, xs = np.mgrid[:48, :48]
  area = mask.sum((1, 2))
  centres = np.stack([(mask * xs).sum((1, 2)) / area, (mask * ys).sum((1, 2)) / area], -1)
  step = 0.25 * 48 / 6  # frame sizes per second * pixels / fps
  expected = np.asarray(IMAGE_XY[direction]) * step
  np.testing.assert_allclose(np.diff(centres, axis=0), np.broadcast_to(expected, (5, 2)))
  assert len(set(area)) == 1  # never clipped by the frame edge
  assert np.all(video[mask] == synthetic.COLOURS['cyan'])


def test_shapes_have_distinct_areas():
  static = {s: Attributes(s, 'red', None, None) for s in synthetic.SHAPES}
  areas = {s: _object_mask(synthetic.render(a, frames=1), a).sum() for s, a in static.items()}
  # 32 px: square 1024, circle ~pi * 256, triangle ~512.
  assert areas['square'] == 1024
  assert abs(areas['circle'] - np.pi * 256) < 20
  assert abs(areas['triangle'] - 512) < 20


def test_generated_clips_stay_inside_and_colours_are_separated():
  for e in synthetic.generate(100, seed=1, frames=8, size=48, fps=8):
    mask = _object_mask(e.video, e.attributes)
    counts = mask.sum((1, 2))
    assert counts.min() == counts.max() > 50
    assert not (mask[:, 0].any() and mask[:, -1].any())  # not spanning the frame
  palette = np.asarray(list(synthetic.COLOURS.values()), float)
  backgrounds = np.asarray(list(synthetic.BACKGROUNDS.values()), float)
  pairwise = np.linalg.norm(palette[:, None] - palette[None], axis=-1)
  assert pairwise[~np.eye(len(palette), dtype=bool)].min() > 150
  assert np.linalg.norm(palette[:, None] - backgrounds[None], axis=-1).min() > 150


def _centre(attributes, frames, size, fps):
  """Pixel centre (x, y) of the shape in the first frame, from its pixels."""
  ys, xs = np.nonzero(_object_mask(synthetic.render(attributes, frames, size, fps), attributes)[0])
  return (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2


def test_placement_decides_where_the_path_lies():
  frames, size, fps = 8, 32, 8
  kw = dict(frames=frames, size=size, fps=fps)
  seen = {p: set() for p in synthetic.PLACEMENTS}
  for i in range(60):
    ex = {p: synthetic.example(i, 5, **kw, placement=p) for p in synthetic.PLACEMENTS}
    a = {p: e.attributes for p, e in ex.items()}
    # Placement only moves the path: the same draw otherwise, caption included.
    assert len({dataclasses.replace(x, start=None) for x in a.values()}) == 1
    assert len({e.caption for e in ex.values()}) == 1
    # 'centred' is the path centred in the frame (start=None); by hand: the middle of the path is
    # the middle of the frame, within the half pixel that whole-pixel centres allow.
    centred = synthetic.render(dataclasses.replace(a['random'], start=None), **kw)
    np.testing.assert_array_equal(ex['centred'].video, centred)
    dx, dy = synthetic.DIRECTIONS[a['random'].direction]
    travel = round(synthetic.SPEEDS[a['random'].speed] * size / fps * (frames - 1))
    x0, y0 = _centre(a['centred'], **kw)
    assert abs(x0 + dx * travel / 2 - size / 2) <= 0.5
    assert abs(y0 + dy * travel / 2 - size / 2) <= 0.5
    # 'lane' agrees with 'centred' along the motion and with 'random' across it.
    lane, rand = _centre(a['lane'], **kw), _centre(a['random'], **kw)
    along, across = (0, 1) if dx else (1, 0)
    assert lane[along] == (x0, y0)[along] and lane[across] == rand[across]
    for p in synthetic.PLACEMENTS:
      seen[p].add((a[p].direction, a[p].speed, a[p].size, a[p].start))
  # Only 'centred' fixes the start for given (direction, speed, size).
  assert len(seen['centred']) == len({k[:3] for k in seen['centred']})
  assert len(seen['lane']) > len(seen['centred']) and len(seen['random']) > len(seen['lane'])
  with pytest.raises(ValueError, match=r"placement='diagonal': expected one of \['random'"):
    synthetic.example(0, placement='diagonal')


def test_captions_name_the_attributes_and_vary():
  examples = synthetic.generate(120, seed=2)
  direction_words = {
      'left': ('left',),
      'right': ('right',),
      'up': ('up', 'top'),
      'down': ('down', 'bottom'),
  }
  for e in examples:
    text, a = e.caption.lower(), e.attributes
    assert len(e.caption) <= 60 and e.caption.isascii()
    assert a.colour in text and a.shape in text
    assert any(w in text for w in direction_words[a.direction])
    others = [d for d in synthetic.DIRECTIONS if d != a.direction]
    assert not any(w in text.split() for d in others for w in direction_words[d])
  assert len({e.caption.split()[1 if e.caption[0] in 'aA' else 0] for e in examples}) > 3
  assert len({e.caption for e in examples}) > 60
  for e in synthetic.generate(40, seed=2, frames=1):
    assert e.attributes.direction is None and e.video.shape == (1, 64, 64, 3)
    assert e.attributes.colour in e.caption and e.attributes.shape in e.caption
    assert not any(d in e.caption.split() for d in synthetic.DIRECTIONS)


def test_size_frames_and_fps_are_configurable():
  e = synthetic.example(0, frames=4, size=(32, 48), fps=4)
  assert e.video.shape == (4, 32, 48, 3) and e.fps == 4 and e.duration == 1
  assert synthetic.example(0, frames=9, size=64, fps=8).duration == 2  # fast: 32 px of 32
  # The same attributes at twice the resolution: the same picture, upsampled.
  a = dataclasses.replace(e.attributes, start=None)
  small, large = synthetic.render(a, 4, 32, 4), synthetic.render(a, 4, 64, 4)
  assert np.mean(large[:, ::2, ::2] == small) > 0.97


def test_bad_attributes_and_clips_raise_clear_errors():
  with pytest.raises(ValueError, match=r"shape='hexagon': expected one of \['circle'"):
    Attributes('hexagon', 'red', 'left')
  with pytest.raises(ValueError, match='colour'):
    Attributes('circle', 'purple', 'left')
  with pytest.raises(ValueError, match='speed'):
    Attributes('circle', 'red', None, 'fast')
  with pytest.raises(ValueError, match='leaves the 64x64 frame at frame 3'):
    synthetic.render(Attributes('circle', 'red', 'right', 'fast', start=(0.6, 0.5)), frames=8)
  with pytest.raises(ValueError, match='travels 48 px in 13 frames at 8 fps'):
    synthetic.example(0, frames=13, fps=8)
  with pytest.raises(ValueError, match='split'):
    synthetic.generate(1, split='test')
