# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""What the official Lumos-1 code does to text and images before they become tokens.

Three parts, each reproducing the official PyTorch code (spec LUMOS1.md):

* The tokenizer file (spec 1.1, 1.2): `load_tokenizer` reads the official `text_tokenizer.json`
  through `tokenizers` and `check_tokenizer` verifies, by token NAME, that its special tokens and
  its 64,000 Cosmos tokens (`VIDVID<digits as letters A..J>Z`) carry the ids of `vocab.lumos1()`.
* The prompt text (spec 2.1, 2.2, 7.2): `t2v_prompt`, `t2i_prompt`, `i2v_prompt` write the one
  template the model was trained on, and `prompt_ids` tokenizes it the way the official
  conversation does. The ids go between BOS and the separator that `layout.generation_prompt` adds.
* The crop (spec 8.2): `crop_sizes`, `choose_size` and `crop_image` give the aspect-ratio buckets
  of the training data and the deterministic centre crop used for data and I2V first frames.

Putting it together for text-to-video (official defaults, spec 7.1):

  text = t2v_prompt(caption)                                  # 672x384, 24 frames at 12 fps
  ids = prompt_ids(text, load_tokenizer(path))
  prompt = layout.generation_prompt(ids, vocab.lumos1(), duration=2, fps=12)
  # = [0] ++ ids ++ [8710] ++ [9004, 8806, 8816]
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Sequence

import numpy as np
import tokenizers
from PIL import Image

from lumos_jax import vocab as vocab_lib
from lumos_jax.tokenizers import text as text_lib

# -----------------------------------------------------------------------------------------------
# The tokenizer file
# -----------------------------------------------------------------------------------------------

# Token names of the special roles (spec 1.2); `Vocab.specials()` holds their ids. BOS is named
# `<s>` in Chameleon's vocabulary (its `VocabInfo.bos_id`).
SPECIAL_TOKEN_NAMES = {
    'bos': '<s>',
    'sep': '<reserved08706>',
    'newline': '<reserved08799>',
    'image_start': '<racm3:break>',
    'image_end': '<eoss>',
    'video_start': '<reserved09000>',
    'video_end': '<reserved09001>',
    'mask': '<reserved08999>',
}
SEP_TOKEN = SPECIAL_TOKEN_NAMES['sep']
# Decimal digit d is text token 16399 + d (`data/num2tokens.json`): training-time frame/fps
# substitution writes these ids, so inference-time digits must tokenize to the same ones.
DIGIT_BASE = 16399

# Cosmos code c is named 'VIDVID' + (decimal digits of c, 0-9 written A-J) + 'Z'
# (`create_cosmos_codebook.py`); the official code reads the code back from the name.
_VISUAL_PREFIX, _VISUAL_SUFFIX = 'VIDVID', 'Z'
_VISUAL_NAME = re.compile(r'VIDVID([A-J]+)Z')


def grid_token_name(n: int) -> str:
  """Name of the grid token for the integer n: `<reserved0{8800 + n}>` (5 digits)."""
  return f'<reserved{8800 + n:05d}>'


def visual_token_name(code: int) -> str:
  """Name of Cosmos code `code` in the official tokenizer, e.g. 0 -> 'VIDVIDAZ'."""
  if code < 0:
    raise ValueError(f'visual code must be >= 0, got {code}')
  letters = ''.join(chr(ord('A') + int(d)) for d in str(code))
  return f'{_VISUAL_PREFIX}{letters}{_VISUAL_SUFFIX}'


def visual_token_code(name: str) -> int | None:
  """Cosmos code named by a token, or None if the name is not a visual token name."""
  m = _VISUAL_NAME.fullmatch(name)
  if m is None:
    return None
  return int(''.join(str(ord(c) - ord('A')) for c in m.group(1)))


def official_token_ids(vocab: vocab_lib.Vocab | None = None) -> dict[str, int]:
  """Name -> id of every named text-side token the official code hard-codes (spec 1.2): the
  special roles, the grid tokens `<reserved08800>`... and the ten decimal digits."""
  vocab = vocab or vocab_lib.lumos1()
  specials = vocab.specials()
  out = {name: specials[role] for role, name in SPECIAL_TOKEN_NAMES.items()}
  out.update({grid_token_name(n): vocab.grid_token(n) for n in range(vocab.max_grid + 1)})
  out.update({str(d): DIGIT_BASE + d for d in range(10)})
  return out


def _raw(tokenizer: Any) -> tokenizers.Tokenizer:
  if isinstance(tokenizer, tokenizers.Tokenizer):
    return tokenizer
  if isinstance(tokenizer, text_lib.HFTokenizer):
    return tokenizer.tokenizer
  raise TypeError(
      f'expected a tokenizers.Tokenizer or text.HFTokenizer, got {type(tokenizer).__name__}'
  )


def visual_token_ids(tokenizer: Any, codebook_size: int = 64000) -> np.ndarray:
  """int64 [codebook_size]: the id of each Cosmos code, read from the token names.

  This is the official `VocabTranslation.vid2bpe` mapping. Raises ValueError for a visual name
  that is not canonical (e.g. leading zeros) or out of range, and for a missing code.
  """
  ids = np.full((codebook_size,), -1, np.int64)
  for name, tok_id in sorted(_raw(tokenizer).get_vocab(with_added_tokens=True).items()):
    code = visual_token_code(name)
    if code is None:
      continue
    if name != visual_token_name(code) or code >= codebook_size:
      raise ValueError(
          f'token {name!r} (id {tok_id}) is not the name of a code in [0, {codebook_size})'
      )
    ids[code] = tok_id
  missing = np.flatnonzero(ids < 0)
  if len(missing):
    c = int(missing[0])
    raise ValueError(
        f'token {visual_token_name(c)!r} (Cosmos code {c}) is missing from the tokenizer '
        f'({len(missing)} of {codebook_size} codes are)'
    )
  return ids


def check_tokenizer(
    tokenizer: Any, vocab: vocab_lib.Vocab | None = None, visual: bool = True
) -> None:
  """Checks the tokenizer's ids against `vocab` (default `vocab.lumos1()`), token by name.

  Every name of `official_token_ids` must have its official id, and, if `visual`, Cosmos code c
  (named `visual_token_name(c)`) must have id `vocab.visual_offset + c`. Raises ValueError naming
  the token, the tokenizer's id and the vocabulary's id at the first mismatch.
  """
  vocab = vocab or vocab_lib.lumos1()
  table = _raw(tokenizer).get_vocab(with_added_tokens=True)
  for name, want in official_token_ids(vocab).items():
    got = table.get(name)
    if got is None:
      raise ValueError(f'token {name!r} is missing from the tokenizer (vocab id {want})')
    if got != want:
      raise ValueError(f'token {name!r}: tokenizer id {got}, vocab id {want}')
  if not visual:
    return
  got = visual_token_ids(tokenizer, vocab.codebook_size)
  want = vocab.code_to_id(np.arange(vocab.codebook_size))
  bad = np.flatnonzero(got != want)
  if len(bad):
    c = int(bad[0])
    raise ValueError(
        f'token {visual_token_name(c)!r}: tokenizer id {got[c]}, vocab id {want[c]} '
        f'(Cosmos code {c}; {len(bad)} visual tokens differ)'
    )


def _repair(spec: dict) -> dict:
  """Undoes the two ways `create_cosmos_codebook.py` broke the file for `tokenizers`.

  It wrote version '2.0' (tokenizers only reads '1.0'; nothing else changed format) and
  appended its 64,000 added-token entries as ONE nested list instead of extending the list
  (spec 9.21). The official code only reads `model.vocab`, so it never noticed.
  """
  if spec.get('version') == '2.0':
    spec['version'] = '1.0'
  added = []
  for entry in spec.get('added_tokens') or []:
    added.extend(entry if isinstance(entry, list) else [entry])
  spec['added_tokens'] = added
  return spec


def load_tokenizer(
    path: str | os.PathLike, vocab: vocab_lib.Vocab | None = None, check: bool = True
) -> text_lib.HFTokenizer:
  """Loads the official `text_tokenizer.json` (Chameleon's, or the Cosmos-extended one).

  The Cosmos-extended file (`ckpts/cosmos/tokenizer/text_tokenizer.json`) is repaired in memory
  so that `tokenizers` reads it (see `_repair`). It is Chameleon's file with the visual names
  appended, so it should encode prompts like the official text tokenizer (Lumina-mGPT's copy of
  the Chameleon vocabulary, spec 1.1); compare the two on a prompt when both files are at hand.
  With `check`, `check_tokenizer` runs, with the visual tokens when the file has any.

  Raises:
    FileNotFoundError: no file at `path`.
    ValueError: not a tokenizer.json, or an id differs from `vocab` (default lumos1()).
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'tokenizer file {path} not found (expected text_tokenizer.json)')
  try:
    with open(path, encoding='utf-8') as f:
      spec = _repair(json.load(f))
    tokenizer = text_lib.HFTokenizer(tokenizers.Tokenizer.from_str(json.dumps(spec)))
  except Exception as e:  # json and the Rust side raise assorted exception types
    raise ValueError(f'{path}: not a valid Hugging Face tokenizer.json: {e}') from e
  if check:
    # Chameleon's own file has no visual tokens; any VIDVID name means the Cosmos-extended one.
    has_visual = any(
        name.startswith(_VISUAL_PREFIX)
        for name in tokenizer.tokenizer.get_vocab(with_added_tokens=True)
    )
    try:
      check_tokenizer(tokenizer, vocab, visual=has_visual)
    except ValueError as e:
      raise ValueError(f'{path}: {e}') from e
  return tokenizer


# -----------------------------------------------------------------------------------------------
# Prompt text
# -----------------------------------------------------------------------------------------------

# The human turn of every training item and of inference (spec 2.2). Note the newline followed by
# one space before the caption. Its fields are those of `DataConfig.prompt_template`, so this
# string can be used there as is: the pipeline fills resolution as '{W}x{H}' of the frames.
TEMPLATE = (
    'Generate a video with a resolution of {resolution}, consisting of {frames} frames at {fps} '
    'frames per second, according to the following prompt:\n {caption}'
)

# Frame sizes are multiples of the 32 px "patch" of Lumina-mGPT: a frame header states them as
# grid tokens in units of 32 px (spec 2.3), so the text's resolution must be one too.
PATCH = 32

# Official T2V resolution by `target_size` (`inference_t2v.py`, `resolution_dict`; spec 7.1).
T2V_RESOLUTIONS = {352: (448, 256), 528: (672, 384), 656: (768, 480)}
# (width, height) of the official T2I / GenEval images, hard-coded in `inference_t2i.py`.
T2I_SIZE = (448, 256)


def prompt_text(caption: str, *, width: int, height: int, fps: int, duration: int) -> str:
  """The official prompt: `TEMPLATE` with '{width}x{height}' and fps * duration frames."""
  if not isinstance(caption, str):
    raise TypeError(f'caption must be a str, got {type(caption).__name__}')
  for name, value in (('width', width), ('height', height)):
    if value <= 0 or value % PATCH:
      raise ValueError(f'{name}={value} is not a positive multiple of {PATCH} px')
  for name, value in (('fps', fps), ('duration', duration)):
    if value <= 0:
      raise ValueError(f'{name} must be positive, got {value}')
  return TEMPLATE.format(
      caption=caption,
      resolution=f'{width}x{height}',
      frames=fps * duration,
      fps=fps,
      duration=duration,
  )


def t2v_prompt(
    caption: str, *, width: int = 672, height: int = 384, fps: int = 12, duration: int = 2
) -> str:
  """Text-to-video prompt; defaults are the released scripts' (384p, 2 s at 12 fps, spec 7.1).

  The video header that follows is `[video_start, grid(duration), grid(fps)]`.
  """
  return prompt_text(caption, width=width, height=height, fps=fps, duration=duration)


def t2i_prompt(caption: str, *, width: int = T2I_SIZE[0], height: int = T2I_SIZE[1]) -> str:
  """Text-to-image prompt: a one-frame video, '1 frames at 1 frames per second' (spec 7.8).

  The default 448x256 is hard-coded in the official `inference_t2i.py`; the header is
  `[video_start, grid(1), grid(1)]`.
  """
  return prompt_text(caption, width=width, height=height, fps=1, duration=1)


def i2v_prompt(caption: str, *, width: int, height: int, fps: int = 12, duration: int = 2) -> str:
  """Image-to-video prompt: T2V text with the resolution of the cropped input image (spec 7.2).

  width, height: the crop size chosen for the image (`choose_size`), not the image's own size.
  The official item processor writes the header with its fps/duration (12, 2), then the given
  frame block; layout.generation_prompt(..., given_frames=[codes]) builds the same sequence.
  """
  return prompt_text(caption, width=width, height=height, fps=fps, duration=duration)


def _encode(tokenizer: Any, text: str) -> list[int]:
  if isinstance(tokenizer, tokenizers.Tokenizer):
    return tokenizer.encode(text, add_special_tokens=False).ids
  return list(tokenizer.encode(text))


def prompt_ids(text: str, tokenizer: Any, vocab: vocab_lib.Vocab | None = None) -> list[int]:
  """Token ids of a prompt, exactly as the official conversation tokenizes them.

  The official code tokenizes the whole conversation string in one call and prepends BOS:
  T2V/T2I `[0] + tok(text + SEP + "" + SEP)` and drops the last SEP; I2V
  `[0] + tok(text + SEP + "<|partial_video|>" + SEP)` with the media symbol replaced by the
  given video. So the prompt is `[bos] ++ ids ++ [sep] ++ video header ...`, which is the layout
  of `layout.generation_prompt(ids, ...)` and `layout.build_item(ids, ...)`: they add BOS and the
  separator, and this returns the ids between them. SEP (`<reserved08706>`) is a special token,
  so it splits the text before pre-tokenization and the ids do not depend on what follows.

  Args:
    text: the prompt (e.g. from `t2v_prompt`).
    tokenizer: a `text.HFTokenizer` (e.g. from `load_tokenizer`) or a `tokenizers.Tokenizer`;
      special tokens such as BOS must not be added by it.
    vocab: vocabulary giving the separator id (default `vocab.lumos1()`).

  Returns:
    The text ids, without BOS and separator.

  Raises:
    ValueError: the tokenizer does not encode `<reserved08706>` as the single separator id.
  """
  vocab = vocab or vocab_lib.lumos1()
  ids = _encode(tokenizer, text + SEP_TOKEN + SEP_TOKEN)
  if ids[-2:] != [vocab.sep, vocab.sep]:
    raise ValueError(
        f'the tokenizer encodes {SEP_TOKEN!r} as {ids[-2:]} at the end of the conversation, '
        f'not as the separator id {vocab.sep}: not the official text tokenizer'
    )
  return ids[:-2]


# -----------------------------------------------------------------------------------------------
# Crop
# -----------------------------------------------------------------------------------------------

MAX_RATIO = 4.0  # widest aspect ratio (either way) among the crop sizes


def crop_sizes(
    target_size: int, patch: int = PATCH, max_ratio: float = MAX_RATIO
) -> list[tuple[int, int]]:
  """The official crop sizes (w, h) for a `target_size` (spec 8.2, `generate_crop_size_list`).

  With n = (target_size // patch)^2 patches, walks the frontier of (wp, hp) with wp * hp <= n
  from (n, 1): grow hp while the area allows, else shrink wp; keeps pairs whose aspect ratio is
  at most `max_ratio`. 528 -> 49 sizes from 1024x256 to 256x1024; 352 -> 31 sizes.
  """
  if target_size < patch or patch <= 0 or max_ratio < 1:
    raise ValueError(
        f'need target_size >= patch > 0 and max_ratio >= 1, got {target_size}, {patch}, '
        f'{max_ratio}'
    )
  num_patches = (target_size // patch) ** 2
  sizes = []
  wp, hp = num_patches, 1
  while wp > 0:
    if max(wp, hp) / min(wp, hp) <= max_ratio:
      sizes.append((wp * patch, hp * patch))
    if (hp + 1) * wp <= num_patches:
      hp += 1
    else:
      wp -= 1
  return sizes


def choose_size(width: int, height: int, sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
  """The crop size whose aspect ratio best matches a width x height image (spec 8.2).

  Score min(cw/w, ch/h) / max(cw/w, ch/h), highest wins; among equal scores the larger (cw, ch)
  tuple, as the official descending sort of (score, size) pairs takes the first.
  """
  if width <= 0 or height <= 0:
    raise ValueError(f'image size must be positive, got {width}x{height}')
  if not sizes:
    raise ValueError('no crop sizes to choose from')

  def score(size):
    cw, ch = size
    # The same float expression as the official code, so that near-ties break the same way.
    return min(cw / width, ch / height) / max(cw / width, ch / height)

  return tuple(max((score(s), tuple(s)) for s in sizes)[1])


def crop_image(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
  """Official deterministic centre crop of an image to size (w, h) (spec 8.2, `center_crop`).

  The image is converted to RGB first, as in every official path (images are opened with
  `.convert('RGB')`, frames come from OpenCV). Then: halve with a BOX filter while both sides are
  at least twice the target, scale by max(cw/w, ch/h) with BICUBIC to rounded sizes, and cut the
  centre (offsets rounded down).

  Returns:
    uint8 [h, w, 3].
  """
  cw, ch = size
  if cw <= 0 or ch <= 0:
    raise ValueError(f'crop size must be positive, got {cw}x{ch}')
  image = image.convert('RGB')
  while image.width >= 2 * cw and image.height >= 2 * ch:
    image = image.resize((image.width // 2, image.height // 2), resample=Image.Resampling.BOX)
  scale = max(cw / image.width, ch / image.height)
  image = image.resize(
      (round(image.width * scale), round(image.height * scale)),
      resample=Image.Resampling.BICUBIC,
  )
  left, top = (image.width - cw) // 2, (image.height - ch) // 2
  return np.asarray(image.crop((left, top, left + cw, top + ch)), dtype=np.uint8)


def fit_image(image: Image.Image, target_size: int) -> np.ndarray:
  """`crop_image` to the best of `crop_sizes(target_size)` (official `var_center_crop`, top-1).

  For I2V the returned frame's (w, h) is the resolution written in the prompt.
  """
  return crop_image(image, choose_size(image.width, image.height, crop_sizes(target_size)))
