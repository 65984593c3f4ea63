# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Byte-level and Hugging Face text tokenizers: ids by hand, round trips and loading errors."""

import dataclasses
import re

import pytest
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from lumos_jax import layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.tokenizers import text

DEMO = vocab_lib.demo()
WORDS = {'[UNK]': 0, '<s>': 1, 'a': 2, 'red': 3, 'circle': 4, 'moving': 5, 'left': 6}


def _word_level(path):
  """A word-level tokenizer.json whose post-processor would add BOS if asked to."""
  tok = tokenizers.Tokenizer(models.WordLevel(WORDS, unk_token='[UNK]'))
  tok.pre_tokenizer = pre_tokenizers.Whitespace()
  tok.add_special_tokens(['<s>'])
  tok.post_processor = processors.TemplateProcessing(single='<s> $A', special_tokens=[('<s>', 1)])
  tok.save(str(path))
  return path


def test_byte_tokenizer_ids_by_hand():
  tok = text.ByteTokenizer(DEMO)
  base = DEMO.byte_offset
  assert tok.encode('Ab') == [base + 65, base + 98]
  assert tok.encode('é') == [base + 0xC3, base + 0xA9]  # two UTF-8 bytes
  assert tok.encode('') == []
  assert tok.vocab_size == base + 256 <= DEMO.text_end
  for s in ['a red circle moving left', 'café ☕ 動画', '']:
    assert tok.decode(tok.encode(s)) == s
  assert tok.decode([base + 0xC3]) == '\ufffd'  # truncated UTF-8 from a sampler


def test_byte_ids_fit_the_layout():
  tok = text.ByteTokenizer(DEMO)
  item = layout.t2i_item(tok.encode('a blue square'), [[0, 1], [2, 3]], DEMO)
  parsed = layout.parse_video(item.tokens, DEMO)
  assert tok.decode(parsed.text) == 'a blue square'


def test_byte_tokenizer_errors():
  tok = text.ByteTokenizer(DEMO)
  for bad in (b'bytes', None, ['a'], 3):
    with pytest.raises(TypeError, match=f'must be a str, got {type(bad).__name__}'):
      tok.encode(bad)
  with pytest.raises(ValueError, match=rf'id 3 at index 1 is not a byte id \[{DEMO.byte_offset},'):
    tok.decode([DEMO.byte_offset, 3])
  with pytest.raises(TypeError, match='1-D sequence of ints'):
    tok.decode([1.5])
  with pytest.raises(ValueError, match='byte_offset'):
    text.ByteTokenizer(vocab_lib.lumos1())


def test_hf_tokenizer_from_file_adds_no_bos(tmp_path):
  tok = text.HFTokenizer.from_file(_word_level(tmp_path / 'tokenizer.json'))
  assert tok.encode('a red circle moving left') == [2, 3, 4, 5, 6]
  assert tok.encode('a purple circle') == [2, 0, 4]
  assert tok.decode([2, 3, 4]) == 'a red circle'
  assert tok.vocab_size == len(WORDS)
  with pytest.raises(TypeError, match='must be a str'):
    tok.encode(b'a red circle')
  with pytest.raises(ValueError, match=r'id 7 at index 0 is outside \[0, 7\)'):
    tok.decode([7])


def test_hf_byte_level_bpe_round_trip(tmp_path):
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(
      vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
  )
  tok.train_from_iterator(['a red circle moving left', 'a blue square moving up'] * 5, trainer)
  tok.save(str(tmp_path / 'tokenizer.json'))
  loaded = text.HFTokenizer.from_file(tmp_path / 'tokenizer.json')
  ids = loaded.encode('a red circle moving left')
  assert len(ids) < len('a red circle moving left')  # merges learnt from the corpus apply
  for s in ['a red circle moving left', 'café ☕ 動画']:
    assert loaded.decode(loaded.encode(s)) == s


def test_hf_loading_errors_name_the_path(tmp_path):
  missing = tmp_path / 'nope' / 'tokenizer.json'
  with pytest.raises(FileNotFoundError, match=re.escape(f'tokenizer file {missing} not found')):
    text.HFTokenizer.from_file(missing)
  corrupt = tmp_path / 'tokenizer.json'
  corrupt.write_text('{"version": "1.0", "model": ')
  with pytest.raises(ValueError, match=re.escape(f'{corrupt}: not a valid')):
    text.HFTokenizer.from_file(corrupt)


def test_for_vocab(tmp_path):
  assert isinstance(text.for_vocab(DEMO), text.ByteTokenizer)
  with pytest.raises(ValueError, match='pass the path of its tokenizer.json'):
    text.for_vocab(vocab_lib.lumos1())
  path = _word_level(tmp_path / 'tokenizer.json')
  assert isinstance(text.for_vocab(vocab_lib.lumos1(), path), text.HFTokenizer)
  small = dataclasses.replace(vocab_lib.lumos1(), text_end=5)
  with pytest.raises(ValueError, match='7 ids, more than the vocabulary text range'):
    text.for_vocab(small, path)
