# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The official text side and crop: tokenizer file, prompts token for token, crop sizes.

The tokenizer is a small stand-in built here (nothing is downloaded): a word-level model over
byte-level pieces that holds the official special tokens, digits, 'x', the lone space and
' frames' at their official ids (spec 1.2), other words at made-up ids, and the 64,000 Cosmos
names written the way `create_cosmos_codebook.py` writes them (quirks included).
"""

import json

import numpy as np
import pytest
import tokenizers
from PIL import Image
from tokenizers import decoders, models, pre_tokenizers

from lumos_jax import layout, official
from lumos_jax import vocab as vocab_lib
from lumos_jax.tokenizers import text

V = vocab_lib.lumos1()

# Pieces after byte-level pre-tokenization ('Ġ' is a space, 'Ċ' a newline). Official ids from
# the spec: digits 16399 + d, 'x' 16471, the lone space 16604, ' frames' 32559.
OFFICIAL_WORDS = {'Ġ': 16604, 'x': 16471, 'Ġframes': 32559}
OFFICIAL_WORDS.update({str(d): 16399 + d for d in range(10)})
OTHER_WORDS = (
    'Generate Ġa Ġvideo Ġwith Ġresolution Ġof , Ġconsisting Ġat Ġper Ġsecond Ġaccording Ġto Ġthe '
    'Ġfollowing Ġprompt :Ċ ĠA Ġred Ġpanda Ġeats Ġbamboo .'
).split()
WORDS = {**OFFICIAL_WORDS, **{w: 40000 + i for i, w in enumerate(OTHER_WORDS)}}
# A GPT-style split with single digits: gives the lone space before a number, as in the shipped
# sample ('of 672x384' -> ' ', '6', '7', '2', 'x', '3', '8', '4').
SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r'|\s*[\r\n]+|\s+(?!\S)|\s+'
)
CAPTION = 'A red panda eats bamboo.'
CAPTION_IDS = [WORDS[w] for w in ('ĠA', 'Ġred', 'Ġpanda', 'Ġeats', 'Ġbamboo', '.')]


def _specials() -> dict[str, int]:
  out = {'<pad>': 1, '</s>': 2, '<unk>': 3}
  out.update(official.official_token_ids(V))
  for name in list(out):
    if name.isdigit():
      del out[name]  # digits are ordinary text tokens
  return out


def _chameleon_tokenizer(with_sep: bool = True) -> tokenizers.Tokenizer:
  specials = _specials()
  if not with_sep:
    del specials[official.SEP_TOKEN]
  tok = tokenizers.Tokenizer(models.WordLevel({**WORDS, **specials}, unk_token='<unk>'))
  tok.pre_tokenizer = pre_tokenizers.Sequence(
      [
          pre_tokenizers.Split(tokenizers.Regex(SPLIT), behavior='isolated'),
          pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
      ]
  )
  tok.decoder = decoders.ByteLevel()
  tok.add_special_tokens(list(specials))
  return tok


def _cosmos_spec(visual: dict[str, int] | None = None) -> dict:
  """The Chameleon file extended as `create_cosmos_codebook.py` does: version '2.0', the visual
  names added to model.vocab and as ONE nested added-token entry, a Split for their names."""
  spec = json.loads(_chameleon_tokenizer().to_str())
  if visual is None:
    visual = {official.visual_token_name(c): V.code_to_id(c) for c in range(V.codebook_size)}
  spec['version'] = '2.0'
  spec['added_tokens'].append(
      [
          dict(
              id=i,
              content=n,
              single_word=False,
              lstrip=False,
              rstrip=False,
              normalized=False,
              special=True,
          )
          for n, i in visual.items()
      ]
  )
  spec['pre_tokenizer']['pretokenizers'].append(
      {
          'type': 'Split',
          'pattern': {'Regex': '(VIDVID)((A|B|C|D|E|F|G|H|I|J){1,5})Z'},
          'behavior': 'Isolated',
          'invert': False,
      }
  )
  spec['model']['vocab'].update(visual)
  return spec


def _write(spec: dict, path):
  path.write_text(json.dumps(spec))
  return path


@pytest.fixture(scope='module')
def cosmos_file(tmp_path_factory):
  return _write(_cosmos_spec(), tmp_path_factory.mktemp('tok') / 'text_tokenizer.json')


@pytest.fixture(scope='module')
def tok(cosmos_file):
  return official.load_tokenizer(cosmos_file)


# -----------------------------------------------------------------------------------------------
# The tokenizer file
# -----------------------------------------------------------------------------------------------


def test_visual_token_names():
  # Both ends as given in spec COSMOS_DV 9: id 65536 is VIDVIDAZ, 129535 is VIDVIDGDJJJZ.
  assert official.visual_token_name(0) == 'VIDVIDAZ'
  assert official.visual_token_name(63999) == 'VIDVIDGDJJJZ'
  assert official.visual_token_name(1024) == 'VIDVIDBACEZ'
  for c in (0, 7, 10, 4096, 63999):
    assert official.visual_token_code(official.visual_token_name(c)) == c
  for name in ('VIDVIDZ', 'VIDVIDAK', 'IMGIMGAZ', '<reserved08706>', 'x'):
    assert official.visual_token_code(name) is None
  assert official.grid_token_name(0) == '<reserved08800>'
  assert official.grid_token_name(12) == '<reserved08812>'


def test_official_ids_table_matches_the_spec():
  ids = official.official_token_ids()
  assert ids['<s>'] == 0 and ids['<reserved08706>'] == 8710 and ids['<reserved08799>'] == 8803
  assert ids['<racm3:break>'] == 8197 and ids['<eoss>'] == 8196 and ids['<reserved08999>'] == 9003
  assert ids['<reserved09000>'] == 9004 and ids['<reserved09001>'] == 9005
  assert ids['<reserved08800>'] == 8804 and ids['<reserved08998>'] == 9002
  assert [ids[str(d)] for d in range(10)] == list(range(16399, 16409))
  # <reservedNNNNN> has id NNNNN + 4 for every reserved token (spec 1.2).
  for name, i in ids.items():
    if name.startswith('<reserved'):
      assert i == int(name[len('<reserved') : -1]) + 4


def test_raw_official_file_does_not_load_in_tokenizers(cosmos_file):
  # Why load_tokenizer repairs it (spec 9.21): each quirk alone stops `tokenizers`.
  spec = json.loads(cosmos_file.read_text())
  with pytest.raises(Exception, match="version '2.0'"):
    tokenizers.Tokenizer.from_str(json.dumps(spec))
  spec['version'] = '1.0'
  with pytest.raises(Exception, match='sequence'):  # the nested added-token list
    tokenizers.Tokenizer.from_str(json.dumps(spec))


def test_load_official_file_ids_from_names(tok):
  assert isinstance(tok, text.HFTokenizer)
  ids = official.visual_token_ids(tok)
  np.testing.assert_array_equal(ids, 65536 + np.arange(64000))
  official.check_tokenizer(tok)  # against vocab.lumos1()
  raw = tok.tokenizer
  assert raw.token_to_id('VIDVIDAZ') == 65536 and raw.token_to_id('VIDVIDGDJJJZ') == 129535
  assert raw.token_to_id('<reserved08706>') == 8710
  # The repaired added tokens keep visual names whole, as the official file intends.
  assert raw.encode('VIDVIDBZ', add_special_tokens=False).ids == [65537]


def test_load_chameleon_file_without_visual_tokens(tmp_path):
  path = tmp_path / 'chameleon.json'
  _chameleon_tokenizer().save(str(path))
  tok = official.load_tokenizer(path)
  assert tok.encode('24') == [16401, 16403]
  with pytest.raises(ValueError, match='VIDVIDAZ.*missing'):
    official.check_tokenizer(tok)


@pytest.mark.parametrize(
    'edit, message',
    [
        # a visual token at the wrong id: the error names it and both ids
        (
            lambda vis, spec: vis.update({'VIDVIDBZ': 65538, 'VIDVIDCZ': 65537}),
            r"token 'VIDVIDBZ': tokenizer id 65538, vocab id 65537 \(Cosmos code 1; 2 visual",
        ),
        (
            lambda vis, spec: vis.pop('VIDVIDJJJJZ'),
            r"token 'VIDVIDJJJJZ' \(Cosmos code 9999\) is missing",
        ),
        (
            lambda vis, spec: vis.update({'VIDVIDAAZ': 129536}),
            r"token 'VIDVIDAAZ' \(id 129536\) is not the name of a code",
        ),
        (
            lambda vis, spec: spec['model']['vocab'].update({'<reserved08999>': 9010}),
            r"token '<reserved08999>': tokenizer id 9010, vocab id 9003",
        ),
        (
            lambda vis, spec: spec['model']['vocab'].update({'7': 16300}),
            r"token '7': tokenizer id 16300, vocab id 16406",
        ),
    ],
)
def test_mismatch_is_a_value_error(edit, message):
  spec = json.loads(_chameleon_tokenizer().to_str())
  # As an added token the mask would keep its id whatever model.vocab says: make it a plain
  # vocabulary entry so that the edit below takes effect.
  spec['added_tokens'] = [t for t in spec['added_tokens'] if t['content'] != '<reserved08999>']
  visual = {official.visual_token_name(c): V.code_to_id(c) for c in range(V.codebook_size)}
  edit(visual, spec)
  spec['model']['vocab'].update(visual)
  with pytest.raises(ValueError, match=message):
    official.check_tokenizer(tokenizers.Tokenizer.from_str(json.dumps(spec)))


def test_load_names_the_file_on_mismatch(tmp_path):
  visual = {official.visual_token_name(c): V.code_to_id(c) for c in range(V.codebook_size)}
  visual['VIDVIDFZ'] = 70000
  path = _write(_cosmos_spec(visual), tmp_path / 'bad.json')
  with pytest.raises(ValueError, match=rf"{path}: token 'VIDVIDFZ': tokenizer id 70000"):
    official.load_tokenizer(path)
  assert official.load_tokenizer(path, check=False).vocab_size > 0
  with pytest.raises(FileNotFoundError):
    official.load_tokenizer(tmp_path / 'none.json')
  (tmp_path / 'junk.json').write_text('{')
  with pytest.raises(ValueError, match='not a valid'):
    official.load_tokenizer(tmp_path / 'junk.json')


# -----------------------------------------------------------------------------------------------
# Prompts
# -----------------------------------------------------------------------------------------------

T2V_TEXT = (
    'Generate a video with a resolution of 672x384, consisting of 24 frames at 12 frames per '
    'second, according to the following prompt:\n A red panda eats bamboo.'
)


def _words(*pieces):
  return [WORDS[p] for p in pieces]


def test_t2v_worked_example_token_for_token(tok):
  text_ = official.t2v_prompt(CAPTION)
  assert text_ == T2V_TEXT
  ids = official.prompt_ids(text_, tok)
  # Spec 1.2: '672x384' is the digits 16405,16406,16401, 'x'=16471, 16402,16407,16403, after a
  # lone space 16604; ' frames' is 32559; '24' -> [16401, 16403], '12' -> [16400, 16401].
  expected = (
      _words('Generate', 'Ġa', 'Ġvideo', 'Ġwith', 'Ġa', 'Ġresolution', 'Ġof')
      + [16604, 16405, 16406, 16401, 16471, 16402, 16407, 16403]
      + _words(',', 'Ġconsisting', 'Ġof')
      + [16604, 16401, 16403, 32559]
      + _words('Ġat')
      + [16604, 16400, 16401, 32559]
      + _words('Ġper', 'Ġsecond', ',', 'Ġaccording', 'Ġto', 'Ġthe', 'Ġfollowing', 'Ġprompt', ':Ċ')
      + CAPTION_IDS
  )
  assert ids == expected
  # Spec 2.5 / 7.2: [0] ++ tok(prompt) ++ [8710] ++ [9004, 8804 + D, 8804 + F], D = 2, F = 12.
  prompt = layout.generation_prompt(ids, V, duration=2, fps=12)
  assert prompt.tolist() == [0] + expected + [8710, 9004, 8806, 8816]
  # The official assembly itself: conversation [[q, ""]] tokenized whole, BOS prepended, the
  # final separator dropped, the video header appended.
  conv = [0] + tok.tokenizer.encode(text_ + '<reserved08706>' * 2, add_special_tokens=False).ids
  assert prompt.tolist() == conv[:-1] + [9004, 8806, 8816]


def test_t2i_prompt():
  text_ = official.t2i_prompt(CAPTION)
  assert text_ == T2V_TEXT.replace('672x384', '448x256').replace(
      '24 frames at 12 frames', '1 frames at 1 frames'
  )
  ids = official.prompt_ids(text_, _chameleon_tokenizer())  # a bare tokenizers.Tokenizer works too
  assert ids[7:15] == [16604, 16403, 16403, 16407, 16471, 16401, 16404, 16405]  # ' 448x256'
  assert [16604, 16400, 32559] == ids[18:21]  # ' 1 frames'
  prompt = layout.generation_prompt(ids, V, duration=1, fps=1)
  assert prompt[-4:].tolist() == [8710, 9004, 8805, 8805]  # spec 7.8 header


def test_i2v_prompt_from_the_cropped_image(tok):
  rng = np.random.default_rng(0)
  image = Image.fromarray(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8))
  frame = official.fit_image(image, 528)
  h, w = frame.shape[:2]
  assert (w, h) == (672, 384)
  text_ = official.i2v_prompt(CAPTION, width=w, height=h)
  assert text_ == T2V_TEXT
  ids = official.prompt_ids(text_, tok)
  codes = np.zeros((h // 8, w // 8), np.int32)  # one Cosmos latent frame of the image
  prompt = layout.generation_prompt(ids, V, duration=2, fps=12, given_frames=[codes]).tolist()
  head = [0] + ids + [8710, 9004, 8806, 8816, 8197, 8804 + h // 32, 8804 + w // 32]
  assert prompt[: len(head)] == head
  # The processed partial video's trailing 9005 and 8710 are stripped (spec 2.5).
  assert prompt[-2:] == [8803, 8196] and len(prompt) == len(ids) + 5 + 48 * 85 + 4


def test_template_fits_the_data_pipeline_fields():
  # data/pipeline.prompt_ids fills these fields; resolution is '{W}x{H}' of the frames.
  filled = official.TEMPLATE.format(
      caption=CAPTION, frames=24, fps=12, duration=2, resolution='672x384'
  )
  assert filled == T2V_TEXT
  assert official.t2v_prompt('{x}').endswith('prompt:\n {x}')  # braces in captions survive


def test_prompt_errors(tok):
  with pytest.raises(ValueError, match=r'width=500 is not a positive multiple of 32'):
    official.t2v_prompt(CAPTION, width=500)
  with pytest.raises(ValueError, match='fps must be positive'):
    official.t2v_prompt(CAPTION, fps=0)
  with pytest.raises(TypeError, match='caption must be a str'):
    official.t2i_prompt(b'bytes')
  with pytest.raises(ValueError, match='not the official text tokenizer'):
    official.prompt_ids(T2V_TEXT, _chameleon_tokenizer(with_sep=False))
  with pytest.raises(ValueError, match='not the official text tokenizer'):
    official.prompt_ids(T2V_TEXT, tok, vocab_lib.demo())


# -----------------------------------------------------------------------------------------------
# Crop
# -----------------------------------------------------------------------------------------------


def _contains_run(sizes, run):
  return any(sizes[i : i + len(run)] == run for i in range(len(sizes)))


def test_crop_sizes_match_the_spec():
  sizes = official.crop_sizes(528)  # (528 // 32)^2 = 256 patches
  assert len(sizes) == 49
  assert sizes[0] == (1024, 256) and sizes[-1] == (256, 1024) and (512, 512) in sizes
  run = [(704, 352), (672, 352), (672, 384), (640, 384), (608, 384), (608, 416), (576, 416)]
  assert _contains_run(sizes, run)
  sizes = official.crop_sizes(352)  # 121 patches
  assert len(sizes) == 31
  assert _contains_run(sizes, [(480, 256), (448, 256), (416, 256)])
  for target, size in official.T2V_RESOLUTIONS.items():
    if target != 656:  # 768x480 is not among crop_sizes(656): see the module's report
      assert size in official.crop_sizes(target)
  for w, h in official.crop_sizes(528):
    assert w % 32 == 0 and h % 32 == 0 and w * h <= 512 * 512 and max(w, h) / min(w, h) <= 4
  with pytest.raises(ValueError):
    official.crop_sizes(16)


def test_choose_size():
  sizes = official.crop_sizes(528)
  assert official.choose_size(1280, 720, sizes) == (672, 384)
  assert official.choose_size(720, 1280, sizes) == (384, 672)
  assert official.choose_size(999, 999, sizes) == (512, 512)
  assert official.choose_size(1280, 720, official.crop_sizes(352)) == (448, 256)
  # equal scores: the larger (w, h), as the official descending sort takes it
  assert official.choose_size(256, 128, [(64, 32), (128, 64), (96, 32)]) == (128, 64)
  with pytest.raises(ValueError):
    official.choose_size(0, 10, sizes)


def test_crop_is_the_exact_centre_when_no_scaling_is_needed():
  rng = np.random.default_rng(1)
  arr = rng.integers(0, 256, (384, 800, 3), dtype=np.uint8)
  out = official.crop_image(Image.fromarray(arr), (672, 384))
  np.testing.assert_array_equal(out, arr[:, 64:736])  # (800 - 672) // 2 = 64


def test_crop_halves_with_a_box_filter():
  # Exactly twice the crop: one BOX halving (2x2 means), then scale 1 (no BICUBIC resampling).
  rng = np.random.default_rng(2)
  arr = rng.integers(0, 256, (768, 1344, 3), dtype=np.uint8)
  out = official.crop_image(Image.fromarray(arr), (672, 384))
  means = arr.reshape(384, 2, 672, 2, 3).astype(np.float64).mean(axis=(1, 3))
  assert out.shape == (384, 672, 3) and out.dtype == np.uint8
  assert np.abs(out - means).max() <= 1.0


def test_crop_scales_then_cuts_the_centre():
  # 1280x720 -> scale 384/720 -> 683x384 (rounded) -> columns [5, 677).
  arr = np.zeros((720, 1280, 3), np.uint8)
  arr[:, 640:] = 255  # right half white: the boundary must land in the middle of the crop
  out = official.crop_image(Image.fromarray(arr), (672, 384))
  assert out.shape == (384, 672, 3)
  edge = np.flatnonzero(out[0, :, 0] > 127)[0]
  assert abs(edge - (683 / 2 - 5)) <= 1
  rgba = Image.fromarray(np.zeros((64, 64, 4), np.uint8), 'RGBA')
  assert official.crop_image(rgba, (32, 32)).shape == (32, 32, 3)


def test_the_project_text_tokenizer_reads_the_official_file(cosmos_file, tmp_path):
  """`text.for_vocab` (what prepare, the pipeline and sample use) loads the released file as
  shipped and checks its ids; a shifted visual id is refused."""
  tokenizer = text.for_vocab(vocab_lib.lumos1(), cosmos_file)
  assert tokenizer.encode('A') == _chameleon_tokenizer().encode('A').ids
  visual = {official.visual_token_name(c): V.code_to_id(c) for c in range(V.codebook_size)}
  first, second = official.visual_token_name(0), official.visual_token_name(1)
  visual[first], visual[second] = visual[second], visual[first]  # two codes swapped
  with pytest.raises(ValueError, match='VIDVID'):
    text.for_vocab(vocab_lib.lumos1(), _write(_cosmos_spec(visual), tmp_path / 'bad.json'))
