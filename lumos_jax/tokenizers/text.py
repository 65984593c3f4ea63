# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Text tokenizers: UTF-8 bytes for the demo vocabulary, Hugging Face `tokenizer.json` files for
the official one (Lumos-1 ships Chameleon's).

Tokenizers return the prompt ids only: the layout adds BOS and the separators.
"""

from __future__ import annotations

import os
from typing import Protocol, Sequence

import numpy as np
import tokenizers

from lumos_jax.vocab import Vocab


class TextTokenizer(Protocol):
  """Maps text to token ids and back; ids lie in [0, vocab_size)."""

  @property
  def vocab_size(self) -> int:
    ...

  def encode(self, text: str) -> list[int]:
    ...

  def decode(self, ids: Sequence[int]) -> str:
    ...


def _check_text(text) -> str:
  if not isinstance(text, str):
    raise TypeError(f'text to encode must be a str, got {type(text).__name__}: {text!r:.80}')
  return text


def _check_ids(ids) -> np.ndarray:
  arr = np.asarray(ids)
  if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
    raise TypeError(f'ids to decode must be a 1-D sequence of ints, got {arr.dtype} {arr.shape}')
  return arr.astype(np.int64)


class ByteTokenizer:
  """Byte-level text: UTF-8 byte b is id `vocab.byte_offset + b`."""

  def __init__(self, vocab: Vocab):
    if vocab.byte_offset is None:
      raise ValueError('ByteTokenizer needs a Vocab with byte_offset set (e.g. vocab.demo())')
    self.offset = vocab.byte_offset

  @property
  def vocab_size(self) -> int:
    return self.offset + 256

  def encode(self, text: str) -> list[int]:
    return [self.offset + b for b in _check_text(text).encode('utf-8')]

  def decode(self, ids: Sequence[int]) -> str:
    """Text of byte ids; invalid UTF-8 (e.g. from a sampled prompt) becomes U+FFFD."""
    b = _check_ids(ids) - self.offset
    bad = np.flatnonzero((b < 0) | (b > 255))
    if len(bad):
      i = int(bad[0])
      raise ValueError(
          f'id {b[i] + self.offset} at index {i} is not a byte id '
          f'[{self.offset}, {self.offset + 256})'
      )
    return bytes(b.astype(np.uint8)).decode('utf-8', errors='replace')


class HFTokenizer:
  """A Hugging Face `tokenizers` tokenizer; special tokens (BOS) are never added."""

  def __init__(self, tokenizer: tokenizers.Tokenizer):
    self.tokenizer = tokenizer

  @classmethod
  def from_file(cls, path: str | os.PathLike) -> HFTokenizer:
    """Loads a `tokenizer.json`; raises FileNotFoundError or ValueError naming the path."""
    path = os.fspath(path)
    if not os.path.isfile(path):
      raise FileNotFoundError(f'tokenizer file {path} not found (expected a tokenizer.json)')
    try:
      return cls(tokenizers.Tokenizer.from_file(path))
    except Exception as e:  # the Rust side raises a bare Exception
      raise ValueError(f'{path}: not a valid Hugging Face tokenizer.json: {e}') from e

  @property
  def vocab_size(self) -> int:
    return self.tokenizer.get_vocab_size(with_added_tokens=True)

  def encode(self, text: str) -> list[int]:
    return self.tokenizer.encode(_check_text(text), add_special_tokens=False).ids

  def decode(self, ids: Sequence[int]) -> str:
    ids = _check_ids(ids)
    bad = np.flatnonzero((ids < 0) | (ids >= self.vocab_size))
    if len(bad):
      i = int(bad[0])
      raise ValueError(f'id {ids[i]} at index {i} is outside [0, {self.vocab_size})')
    return self.tokenizer.decode(ids.tolist(), skip_special_tokens=False)


def for_vocab(vocab: Vocab, path: str | os.PathLike | None = None) -> TextTokenizer:
  """The text tokenizer of a vocabulary: bytes if it has a byte range, else the file at `path`.

  Raises ValueError if the tokenizer's ids do not fit the vocabulary's text range.
  """
  if vocab.byte_offset is not None:
    tokenizer = ByteTokenizer(vocab)
  elif path is None:
    raise ValueError('this Vocab has no byte range: pass the path of its tokenizer.json')
  else:
    # Through the official loader: it also reads the released Cosmos-extended file, which
    # `tokenizers` rejects as shipped, and checks that file's ids name by name.
    from lumos_jax import official  # pylint: disable=g-import-not-at-top

    tokenizer = official.load_tokenizer(path, vocab, check=False)
    if any(
        official.visual_token_code(name) is not None for name in tokenizer.tokenizer.get_vocab()
    ):
      official.check_tokenizer(tokenizer, vocab, visual=True)
      return tokenizer  # its ids cover the visual range too, each checked against `vocab`
  if tokenizer.vocab_size > vocab.text_end:
    raise ValueError(
        f'text tokenizer has {tokenizer.vocab_size} ids, more than the vocabulary text range '
        f'[{vocab.text_start}, {vocab.text_end})'
    )
  return tokenizer
