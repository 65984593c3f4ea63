# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""FSQ against the official quantizer's outputs (fixture `fsq/*`), and its index layout."""

import pathlib

import numpy as np

from lumos_jax.tokenizers.cosmos import fsq

FIXTURE = pathlib.Path(__file__).parents[2] / 'fixtures' / 'cosmos_dv_small.npz'
LEVELS = (8, 8, 8, 5, 5, 5)


def _load(*keys):
  with np.load(FIXTURE) as f:
    return [f[f'fsq/{k}'] for k in keys]


def test_quantize_matches_official():
  z, indices, codes = _load('z', 'indices', 'codes')
  got_codes, got_indices = fsq.quantize(z, LEVELS)
  # Even the cells next to a rounding boundary agree (float32 like the official quantizer).
  np.testing.assert_array_equal(np.asarray(got_indices), indices)
  np.testing.assert_array_equal(np.asarray(got_codes), codes)
  assert got_indices.dtype == np.int32


def test_indices_to_codes_matches_official():
  indices, codes = _load('idx_sample', 'idx_sample_codes')
  np.testing.assert_array_equal(np.asarray(fsq.indices_to_codes(indices, LEVELS)), codes)


def test_every_index_round_trips():
  indices = np.arange(64000, dtype=np.int32)
  codes = fsq.indices_to_codes(indices, LEVELS)
  np.testing.assert_array_equal(np.asarray(fsq.codes_to_indices(codes, LEVELS)), indices)


def test_channel_zero_is_the_fastest_digit():
  np.testing.assert_array_equal(fsq.basis(LEVELS), [1, 8, 64, 512, 2560, 12800])
  codes = np.asarray(fsq.indices_to_codes(np.array([0, 1, 8, 63999]), LEVELS))
  np.testing.assert_array_equal(codes[0], [-1, -1, -1, -1, -1, -1])
  np.testing.assert_array_equal(codes[1], [-0.75, -1, -1, -1, -1, -1])
  np.testing.assert_array_equal(codes[2], [-1, -0.75, -1, -1, -1, -1])
  np.testing.assert_array_equal(codes[3], [0.75, 0.75, 0.75, 1, 1, 1])


def test_bound_ranges():
  b = np.asarray(fsq.bound(np.array([[-50.0] * 6, [50.0] * 6], np.float32), LEVELS))
  np.testing.assert_allclose(b[0], [-4.0035] * 3 + [-2.002] * 3, atol=1e-5)
  np.testing.assert_allclose(b[1], [3.0035] * 3 + [2.002] * 3, atol=1e-5)
