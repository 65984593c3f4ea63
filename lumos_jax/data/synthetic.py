# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Deterministic synthetic videos and images of one moving shape, with captions.

Every example is a coloured shape on a plain background, moving in a straight line at constant
speed and fully inside the frame for the whole clip; an image is a one-frame clip of a static
shape. Colours are well separated, near-pure RGB values and backgrounds are dark or neutral, so an
analyzer can read colour, shape and direction back from pixels.

Where a path lies is a choice (`PLACEMENTS`): anywhere it fits, centred along the motion only, or
centred in the frame, which makes the object's place in each frame a function of the attributes.

Sizes, speeds and start positions are fractions of the frame, so one attribute set renders at any
resolution. Speeds are in frame sizes per second, so `fps` changes the sampling rate, not the
motion.

Held-out split: a (shape, colour, direction) combination is held out iff
`(2 * shape + colour + direction) % 7 == 0` on the indices into SHAPES, COLOURS and DIRECTIONS +
('static',). With 7 colours this holds out exactly one colour per (shape, direction), so 1/7 of the
combinations, while every shape, colour, direction and (shape, colour) pair stays in training.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

# Bump whenever what a seed generates changes (palette, sizes, speeds, captions, rendering): the
# version is part of the prepared-data hash, so stale records are never reused.
GENERATOR_VERSION = 2
SHAPES = ('circle', 'square', 'triangle')
COLOURS = {
    'red': (230, 25, 25),
    'green': (25, 200, 25),
    'blue': (30, 60, 255),
    'yellow': (240, 230, 20),
    'magenta': (230, 30, 230),
    'cyan': (20, 220, 230),
    'white': (250, 250, 250),
}
BACKGROUNDS = {'black': (0, 0, 0), 'gray': (110, 110, 110), 'navy': (15, 15, 70)}
DIRECTIONS = {'left': (-1, 0), 'right': (1, 0), 'up': (0, -1), 'down': (0, 1)}  # (dx, dy), y down
SPEEDS = {'slow': 0.25, 'fast': 0.5}  # frame sizes per second
SIZES = {'small': 0.375, 'large': 0.5}  # object diameter as a fraction of the frame
SPLITS = ('train', 'heldout')
PLACEMENTS = ('random', 'lane', 'centred')  # where a path lies in the frame, see sample_attributes

_STATIC = len(DIRECTIONS)  # direction index of a static shape (images) in the held-out rule
_DIRECTION_WORDS = {
    'left': ('left', 'to the left', 'leftward'),
    'right': ('right', 'to the right', 'rightward'),
    'up': ('up', 'upward', 'to the top'),
    'down': ('down', 'downward', 'to the bottom'),
}
_SPEED_WORDS = {'slow': ('slowly',), 'fast': ('quickly', 'fast')}
_VIDEO_TEMPLATES = (
    'a {colour} {shape} moving {direction}',
    'A {size} {colour} {shape} slides {direction} on {background}',
    'a {colour} {shape} moves {speed} {direction}',
    'the {size} {colour} {shape} goes {direction}',
    '{colour} {shape} moving {direction} on a {background} background',
    'A {colour} {shape} drifts {speed} {direction}',
)
_IMAGE_TEMPLATES = (
    'a {colour} {shape}',
    'A {size} {colour} {shape} on a {background} background',
    'a picture of a {colour} {shape}',
    '{colour} {shape} on {background}',
)


def _check(value, options, field: str):
  if value not in options:
    raise ValueError(f'Attributes.{field}={value!r}: expected one of {list(options)}')


@dataclasses.dataclass(frozen=True)
class Attributes:
  """What a clip shows; `direction=None` (and then `speed=None`) is a static shape.

  Attributes:
    shape, colour, background, size: keys of SHAPES, COLOURS, BACKGROUNDS and SIZES.
    direction, speed: keys of DIRECTIONS and SPEEDS, or both None for a static shape.
    start: centre of the shape in the first frame as (x, y) fractions of the frame width and
      height; None centres the path in the frame.
  """

  shape: str
  colour: str
  direction: str | None
  speed: str | None = 'slow'
  size: str = 'large'
  background: str = 'black'
  start: tuple[float, float] | None = None

  def __post_init__(self):
    _check(self.shape, SHAPES, 'shape')
    _check(self.colour, COLOURS, 'colour')
    _check(self.background, BACKGROUNDS, 'background')
    _check(self.size, SIZES, 'size')
    if self.direction is None:
      if self.speed is not None:
        raise ValueError(
            f'Attributes.speed={self.speed!r}: a static shape (direction=None) has speed=None'
        )
    else:
      _check(self.direction, DIRECTIONS, 'direction')
      _check(self.speed, SPEEDS, 'speed')
    if self.start is not None:
      object.__setattr__(self, 'start', tuple(float(v) for v in self.start))

  @property
  def combo(self) -> tuple[str, str, str | None]:
    """The (shape, colour, direction) combination that defines the split."""
    return self.shape, self.colour, self.direction


def is_held_out(shape: str, colour: str, direction: str | None) -> bool:
  """Whether a (shape, colour, direction) combination belongs to the held-out split."""
  d = _STATIC if direction is None else list(DIRECTIONS).index(direction)
  return (2 * SHAPES.index(shape) + list(COLOURS).index(colour) + d) % 7 == 0


def combos(split: str, static: bool = False) -> list[tuple[str, str, str | None]]:
  """The (shape, colour, direction) combinations of a split, for moving or static shapes."""
  _check(split, SPLITS, 'split')
  directions = [None] if static else list(DIRECTIONS)
  every = itertools.product(SHAPES, COLOURS, directions)
  return [c for c in every if is_held_out(*c) == (split == 'heldout')]


def _frame_hw(size: int | tuple[int, int]) -> tuple[int, int]:
  height, width = (size, size) if isinstance(size, int) else size
  if min(height, width) <= 0:
    raise ValueError(f'frame size must be positive, got {size}')
  return int(height), int(width)


def _radius(size: str, height: int, width: int) -> float:
  """Half the object's diameter, which is a whole number of pixels."""
  return round(SIZES[size] * min(height, width)) / 2


def _path(attributes: Attributes, frames: int, size: int | tuple[int, int], fps: int):
  """Per-frame centre (x, y) in pixels, [T] each, and the object radius in pixels."""
  if frames < 1 or fps < 1:
    raise ValueError(f'frames={frames} and fps={fps} must be positive')
  height, width = _frame_hw(size)
  scale = min(height, width)
  radius = _radius(attributes.size, height, width)
  dx, dy = DIRECTIONS[attributes.direction] if attributes.direction else (0, 0)
  step = SPEEDS[attributes.speed] * scale / fps if attributes.speed else 0.0
  travel = np.round(step * np.arange(frames))  # whole pixels, so the shape is only translated
  if attributes.start is None:
    x0 = round(width / 2 - dx * travel[-1] / 2)
    y0 = round(height / 2 - dy * travel[-1] / 2)
  else:
    x0, y0 = round(attributes.start[0] * width), round(attributes.start[1] * height)
  return x0 + dx * travel, y0 + dy * travel, radius


def render(
    attributes: Attributes, frames: int = 8, size: int | tuple[int, int] = 64, fps: int = 8
) -> np.ndarray:
  """Renders the ground-truth clip of an attribute set.

  Args:
    attributes: what to draw.
    frames: number of frames T (1 for an image).
    size: frame size in pixels, an int for square frames or (height, width).
    fps: frames per second; with a speed in frame sizes per second it sets the step per frame.

  Returns:
    uint8 [T, H, W, 3] video.

  Raises:
    ValueError: if the shape would leave the frame during the clip.
  """
  height, width = _frame_hw(size)
  cx, cy, r = _path(attributes, frames, size, fps)
  out = (cx - r < 0) | (cx + r > width) | (cy - r < 0) | (cy + r > height)
  if out.any():
    raise ValueError(
        f'{attributes} leaves the {height}x{width} frame at frame {int(np.argmax(out))} of '
        f'{frames}; use fewer frames, a higher fps, a slower speed or another start'
    )
  x = (np.arange(width) + 0.5)[None, None, :] - cx[:, None, None]  # [T, 1, W]
  y = (np.arange(height) + 0.5)[None, :, None] - cy[:, None, None]  # [T, H, 1]
  if attributes.shape == 'circle':
    mask = x**2 + y**2 <= r**2
  elif attributes.shape == 'square':
    mask = (np.abs(x) <= r) & (np.abs(y) <= r)
  else:  # triangle pointing up: apex at y = -r, base of width 2r at y = +r
    mask = (y >= -r) & (y <= r) & (np.abs(x) <= (y + r) / 2)
  colour = np.asarray(COLOURS[attributes.colour], np.uint8)
  background = np.asarray(BACKGROUNDS[attributes.background], np.uint8)
  return np.where(mask[..., None], colour, background).astype(np.uint8)


def sample_attributes(
    rng: np.random.Generator,
    split: str = 'train',
    frames: int = 8,
    size: int | tuple[int, int] = 64,
    fps: int = 8,
    placement: str = 'random',
) -> Attributes:
  """Draws attributes from a split whose shape stays inside the frame for the whole clip.

  `placement` says where the path lies: 'random' shifts it anywhere it fits, 'lane' centres it
  along its direction of motion and shifts it only across (a static shape anywhere it fits), and
  'centred' centres it. A one-frame clip (an image) gets a static shape. Raises ValueError,
  whatever the draw, if a large shape moving fast cannot stay inside the frame for `frames` frames
  at `fps`.
  """
  if placement not in PLACEMENTS:
    raise ValueError(f'placement={placement!r}: expected one of {list(PLACEMENTS)}')
  height, width = _frame_hw(size)
  travel = round(SPEEDS['fast'] * min(height, width) / fps * (frames - 1))
  margin = math.ceil(_radius('large', height, width))  # whole-pixel centres need ceil(r) margins
  if travel > min(height, width) - 2 * margin:
    raise ValueError(
        f'a large shape moving fast travels {travel} px in {frames} frames at {fps} fps, more '
        f'than the {height}x{width} px frame leaves; use fewer frames or a higher fps'
    )
  combo = combos(split, static=frames == 1)
  shape, colour, direction = combo[rng.integers(len(combo))]
  speed = None if direction is None else str(rng.choice(list(SPEEDS)))
  attributes = Attributes(
      shape,
      colour,
      direction,
      speed,
      size=str(rng.choice(list(SIZES))),
      background=str(rng.choice(list(BACKGROUNDS))),
  )
  cx, cy, r = _path(attributes, frames, size, fps)  # path centred in the frame
  # Whole-pixel shifts of the centred path that keep the shape inside (exact as fractions).
  lo_x, hi_x = math.ceil(r - cx.min()), math.floor(width - r - cx.max())
  lo_y, hi_y = math.ceil(r - cy.min()), math.floor(height - r - cy.max())
  shift_x, shift_y = int(rng.integers(lo_x, hi_x + 1)), int(rng.integers(lo_y, hi_y + 1))
  dx, dy = DIRECTIONS[direction] if direction else (0, 0)
  if placement == 'centred':
    shift_x = shift_y = 0
  elif placement == 'lane':
    shift_x, shift_y = shift_x * (1 - abs(dx)), shift_y * (1 - abs(dy))
  start = ((cx[0] + shift_x) / width, (cy[0] + shift_y) / height)
  return dataclasses.replace(attributes, start=start)


def caption(attributes: Attributes, rng: np.random.Generator) -> str:
  """A caption from a random template; it always names the shape, colour and any direction."""
  a = attributes
  words = dict(shape=a.shape, colour=a.colour, size=a.size, background=a.background)
  if a.direction is None:
    return str(rng.choice(_IMAGE_TEMPLATES)).format(**words)
  words['direction'] = str(rng.choice(_DIRECTION_WORDS[a.direction]))
  words['speed'] = str(rng.choice(_SPEED_WORDS[a.speed]))
  return str(rng.choice(_VIDEO_TEMPLATES)).format(**words)


@dataclasses.dataclass(frozen=True)
class Example:
  """A captioned clip: `video` is uint8 [T, H, W, 3]; one frame for an image."""

  video: np.ndarray
  caption: str
  attributes: Attributes
  fps: int

  @property
  def duration(self) -> int:
    """Whole seconds covered by the clip (at least 1), as written in the video header."""
    return max(1, math.ceil(len(self.video) / self.fps))


def example(
    index: int,
    seed: int = 0,
    split: str = 'train',
    frames: int = 8,
    size: int | tuple[int, int] = 64,
    fps: int = 8,
    placement: str = 'random',
) -> Example:
  """The `index`-th example of a split: a pure function of its arguments (random access)."""
  _check(split, SPLITS, 'split')
  rng = np.random.default_rng((seed, SPLITS.index(split), index))
  attributes = sample_attributes(rng, split, frames, size, fps, placement)
  video = render(attributes, frames, size, fps)
  return Example(video, caption(attributes, rng), attributes, fps)


def generate(
    num: int,
    seed: int = 0,
    split: str = 'train',
    frames: int = 8,
    size: int | tuple[int, int] = 64,
    fps: int = 8,
    placement: str = 'random',
) -> list[Example]:
  """The first `num` examples of a split (see `example`); `frames=1` gives images."""
  return [example(i, seed, split, frames, size, fps, placement) for i in range(num)]
