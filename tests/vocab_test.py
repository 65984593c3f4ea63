# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
import dataclasses

import numpy as np
import pytest

from lumos_jax import vocab as vocab_lib


def test_lumos1_official_ids():
  v = vocab_lib.lumos1()
  assert v.size == 129536 and v.visual_offset == 65536 and v.codebook_size == 64000
  assert (v.bos, v.pad, v.sep, v.newline) == (0, 0, 8710, 8803)
  assert (v.image_start, v.image_end, v.video_start, v.video_end, v.mask) == (
      8197,
      8196,
      9004,
      9005,
      9003,
  )
  # <reserved0{8800+n}> has id 8804 + n; 384p frame: 384/32 = 12 -> 8816, 48 latent rows.
  assert v.grid_token(12) == 8816 and v.grid_value(8816) == 12
  assert v.latent_per_grid * 12 == 48
  assert v.rope_strides == (4, 8, 8)
  assert v.grid_token(v.max_grid) < v.mask  # the largest grid value stays below 9003
  with pytest.raises(ValueError, match='max_grid'):
    v.grid_token(199)


def test_visual_range_and_codes():
  v = vocab_lib.lumos1()
  ids = np.array([65535, 65536, 129535, 129536])
  np.testing.assert_array_equal(v.is_visual(ids), [False, True, True, False])
  assert v.code_to_id(0) == 65536 and v.id_to_code(129535) == 63999


def test_demo_is_byte_level_and_compact():
  v = vocab_lib.demo(codebook_size=256)
  assert v.byte_offset is not None and v.text_end - v.byte_offset == 256
  assert v.size == v.visual_offset + 256
  assert v.rope_strides == (1, 8, 8) and v.latent_per_grid == 1
  specials = set(v.specials().values())
  assert not any(v.is_visual(np.array(sorted(specials))))
  assert len(specials) == 8  # pad shares the BOS id, everything else distinct


@pytest.mark.parametrize(
    'change, field',
    [
        (dict(mask=8197), 'mask'),  # collides with image_start
        (dict(sep=65540), 'sep'),  # inside the visual range
        (dict(newline=8810), 'newline'),  # a grid token
        (dict(codebook_size=70000), 'codebook_size'),  # beyond the vocabulary
        (dict(rope_strides=(4, 8)), 'rope_strides'),
        (dict(latent_per_grid=0), 'latent_per_grid'),
    ],
)
def test_validation_names_the_field(change, field):
  with pytest.raises(ValueError, match=f'Vocab.{field}'):
    dataclasses.replace(vocab_lib.lumos1(), **change)
