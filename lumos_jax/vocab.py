# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Token vocabulary: text range, special ids, grid-size tokens and the visual code range.

The official Lumos-1 vocabulary (spec section 1) is the 65,536-entry Chameleon text vocabulary
with 64,000 Cosmos codes appended. Special tokens are reserved text tokens; a "grid" token encodes a
small integer n as `grid_base + n` and is used both for frame sizes (in units of
`latent_per_grid` latent rows/columns) and for the video header's duration and fps.

Everything that depends on the visual tokenizer's geometry (how many latent rows one grid unit is,
the MM-RoPE strides in time/height/width) lives here, not in the model, so that a different
tokenizer only needs a different `Vocab`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# Label value for positions that carry no target (the PyTorch ignore_index convention).
IGNORE = -100

_SPECIAL_FIELDS = (
    'bos',
    'sep',
    'newline',
    'image_start',
    'image_end',
    'video_start',
    'video_end',
    'mask',
)


@dataclasses.dataclass(frozen=True)
class Vocab:
  """Description of the model vocabulary.

  Attributes:
    size: total number of token ids (rows of the embedding / columns of the LM head).
    text_start, text_end: half-open range of text ids (specials may lie inside it, as in Chameleon).
    bos: beginning-of-sequence id.
    pad: id used for right padding (the official code pads with the BOS id 0).
    sep: end-of-turn separator.
    newline: closes every latent row of a frame.
    image_start, image_end: open/close a frame block.
    video_start, video_end: open/close a video block.
    mask: the AR-DF mask token.
    grid_base: id of the grid token for n = 0; n is encoded as `grid_base + n`.
    max_grid: largest n representable by a grid token.
    visual_offset: id of visual code 0.
    codebook_size: number of visual codes.
    latent_per_grid: latent rows (or columns) per grid unit in a frame header (official: 32 px /
      8 px per latent = 4).
    rope_strides: MM-RoPE position units per latent step in (t, h, w); the official values are the
      Cosmos DV4x8x8 compression factors (4, 8, 8), so positions count RGB frames and pixels.
    byte_offset: for byte-level text, byte b has id `byte_offset + b`; None for a BPE vocabulary.
  """

  size: int
  text_start: int
  text_end: int
  bos: int
  pad: int
  sep: int
  newline: int
  image_start: int
  image_end: int
  video_start: int
  video_end: int
  mask: int
  grid_base: int
  max_grid: int
  visual_offset: int
  codebook_size: int
  latent_per_grid: int
  rope_strides: tuple[int, int, int]
  byte_offset: int | None = None

  def __post_init__(self):
    object.__setattr__(self, 'rope_strides', tuple(int(s) for s in self.rope_strides))
    self.validate()

  # -- grid tokens ---------------------------------------------------------------------------

  def grid_token(self, n: int) -> int:
    """Id of the grid token encoding the integer n."""
    if not 0 <= n <= self.max_grid:
      raise ValueError(f'grid value {n} is outside [0, {self.max_grid}] (Vocab.max_grid)')
    return self.grid_base + n

  def grid_value(self, token: Any) -> Any:
    """Integer encoded by grid token(s); works on ints and arrays."""
    return token - self.grid_base

  def is_grid(self, tokens: Any) -> Any:
    return (tokens >= self.grid_base) & (tokens <= self.grid_base + self.max_grid)

  # -- visual codes --------------------------------------------------------------------------

  @property
  def visual_end(self) -> int:
    return self.visual_offset + self.codebook_size

  def is_visual(self, tokens: Any) -> Any:
    """True for ids that are visual codes (not specials, not text)."""
    return (tokens >= self.visual_offset) & (tokens < self.visual_end)

  def code_to_id(self, codes: Any) -> Any:
    return codes + self.visual_offset

  def id_to_code(self, ids: Any) -> Any:
    return ids - self.visual_offset

  # -- misc ----------------------------------------------------------------------------------

  def specials(self) -> dict[str, int]:
    """Name -> id of every special token (pad included)."""
    out = {name: getattr(self, name) for name in _SPECIAL_FIELDS}
    out['pad'] = self.pad
    return out

  def validate(self) -> None:
    """Raises ValueError naming the offending field if the description is inconsistent."""

    def fail(field: str, msg: str):
      raise ValueError(f'Vocab.{field}: {msg}')

    for field in ('size', 'codebook_size', 'latent_per_grid'):
      if getattr(self, field) <= 0:
        fail(field, f'must be positive, got {getattr(self, field)}')
    if len(self.rope_strides) != 3 or min(self.rope_strides) <= 0:
      fail('rope_strides', f'expected three positive ints (t, h, w), got {self.rope_strides}')
    if self.max_grid < 1:
      fail('max_grid', f'must be at least 1, got {self.max_grid}')
    if not 0 <= self.text_start <= self.text_end <= self.size:
      fail(
          'text_end', f'text range [{self.text_start}, {self.text_end}) not inside [0, {self.size})'
      )
    if not (0 <= self.visual_offset and self.visual_end <= self.size):
      fail(
          'codebook_size',
          f'visual range [{self.visual_offset}, {self.visual_end}) not inside [0, {self.size})',
      )
    if self.visual_offset < self.text_end and self.visual_end > self.text_start:
      fail(
          'visual_offset',
          f'visual range [{self.visual_offset}, {self.visual_end}) overlaps the text range '
          f'[{self.text_start}, {self.text_end})',
      )
    grid_lo, grid_hi = self.grid_base, self.grid_base + self.max_grid
    if grid_lo < 0 or grid_hi >= self.size:
      fail('grid_base', f'grid ids [{grid_lo}, {grid_hi}] not inside [0, {self.size})')
    if grid_lo < self.visual_end and grid_hi >= self.visual_offset:
      fail('grid_base', f'grid ids [{grid_lo}, {grid_hi}] overlap the visual range')
    seen: dict[int, str] = {}
    for name, tok in self.specials().items():
      if not 0 <= tok < self.size:
        fail(name, f'id {tok} outside [0, {self.size})')
      if self.visual_offset <= tok < self.visual_end:
        fail(name, f'id {tok} lies in the visual range [{self.visual_offset}, {self.visual_end})')
      if grid_lo <= tok <= grid_hi:
        fail(name, f'id {tok} collides with the grid tokens [{grid_lo}, {grid_hi}]')
      # The official vocabulary pads with the BOS id; any other sharing is a mistake.
      if tok in seen and {name, seen[tok]} != {'pad', 'bos'}:
        fail(name, f'id {tok} is already used by {seen[tok]}')
      seen.setdefault(tok, name)
    if self.byte_offset is not None:
      lo, hi = self.byte_offset, self.byte_offset + 256
      if lo < self.text_start or hi > self.text_end:
        fail('byte_offset', f'byte ids [{lo}, {hi}) not inside the text range')
      for name, tok in self.specials().items():
        if lo <= tok < hi:
          fail('byte_offset', f'byte ids [{lo}, {hi}) contain special {name}={tok}')
      if lo <= grid_hi and hi > grid_lo:
        fail('byte_offset', f'byte ids [{lo}, {hi}) overlap the grid tokens')


def lumos1() -> Vocab:
  """The official Lumos-1 vocabulary (Chameleon text + Cosmos DV4x8x8 codes, 129,536 ids)."""
  return Vocab(
      size=129536,
      text_start=0,
      text_end=65536,
      bos=0,
      pad=0,
      sep=8710,  # <reserved08706>
      newline=8803,  # <reserved08799>
      image_start=8197,  # <racm3:break>
      image_end=8196,  # <eoss>
      video_start=9004,  # <reserved09000>
      video_end=9005,  # <reserved09001>
      mask=9003,  # <reserved08999>
      grid_base=8804,  # <reserved08800> + n
      max_grid=198,  # n = 199 would reach the mask token 9003
      visual_offset=65536,
      codebook_size=64000,  # FSQ levels 8*8*8*5*5*5
      latent_per_grid=4,  # one grid unit = 32 px = 4 latent rows at 8x spatial compression
      rope_strides=(4, 8, 8),  # Cosmos DV4x8x8: 4 RGB frames / 8 px per latent step
  )


def demo(
    codebook_size: int = 512,
    latent_per_grid: int = 1,
    rope_strides: tuple[int, int, int] = (1, 8, 8),
    max_grid: int = 63,
) -> Vocab:
  """A compact vocabulary for the embedded demo: byte-level text and a small codebook.

  Layout: 0 BOS/pad, 1-7 specials, grid tokens from 8, then the 256 byte ids, then the visual
  codes. The defaults match the demo patch tokenizer (8x8 px patches, no temporal compression, one
  grid unit per latent row).
  """
  grid_base = 8
  byte_offset = grid_base + max_grid + 1
  text_end = byte_offset + 256
  return Vocab(
      size=text_end + codebook_size,
      text_start=0,
      text_end=text_end,
      bos=0,
      pad=0,
      sep=1,
      newline=2,
      image_start=3,
      image_end=4,
      video_start=5,
      video_end=6,
      mask=7,
      grid_base=grid_base,
      max_grid=max_grid,
      visual_offset=text_end,
      codebook_size=codebook_size,
      latent_per_grid=latent_per_grid,
      rope_strides=rope_strides,
      byte_offset=byte_offset,
  )


PRESETS = {'lumos1': lumos1, 'demo': demo}
