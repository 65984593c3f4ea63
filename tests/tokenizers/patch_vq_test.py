# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""PatchVQ: codes by hand, k-means, reconstruction PSNR on held-out clips, file format, errors."""

import re

import jax.numpy as jnp
import numpy as np
import pytest

from lumos_jax import layout
from lumos_jax import vocab as vocab_lib
from lumos_jax.data import synthetic
from lumos_jax.tokenizers import patch_vq
from lumos_jax.tokenizers.patch_vq import PatchVQ

# Four solid 2x2 patches: black, red, green, white.
SOLID = np.repeat(np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [255, 255, 255]]), 4, axis=0)
SOLID = SOLID.reshape(4, 2, 2, 3).reshape(4, 12)


def _videos(num, split, seed):
  return np.stack([e.video for e in synthetic.generate(num, seed=seed, split=split, frames=4)])


@pytest.fixture(scope='module')
def fitted():
  return PatchVQ.fit(_videos(120, 'train', 0), codebook_size=256, iters=10, seed=0)


def test_encode_decode_by_hand():
  vq = PatchVQ(SOLID, patch_size=2)
  codes = np.array([[[1, 0, 3], [2, 2, 1]]])  # one frame of 2x3 patches
  video = np.zeros((1, 4, 6, 3), np.uint8)
  video[0, 0:2, 0:2] = (255, 0, 0)
  video[0, 0:2, 4:6] = 255
  video[0, 2:4, 0:4] = (0, 255, 0)
  video[0, 2:4, 4:6] = (255, 0, 0)
  np.testing.assert_array_equal(vq.encode(video), codes)
  assert vq.encode(video).dtype == np.int32
  np.testing.assert_array_equal(vq.decode(codes), video)
  np.testing.assert_array_equal(vq.encode(video[0]), codes[0])  # an image [H, W, 3]
  # Nearest codeword: dark red (100, 0, 0) is closer to black than to red.
  assert vq.encode(np.full((2, 2, 3), (100, 0, 0), np.uint8)).item() == 0
  assert (vq.codebook_size, vq.temporal_compression, vq.spatial_compression) == (4, 1, 2)


def test_decode_then_encode_returns_the_codes():
  rng = np.random.default_rng(0)
  codebook = rng.integers(0, 256, (64, 8 * 8 * 3))
  codebook[:2] = rng.integers(250, 255, 8 * 8 * 3)  # bright: squared norms ~1.2e7
  codebook[1, 5] += 1  # codewords one grey level apart
  vq = PatchVQ(codebook)
  codes = rng.integers(0, 64, (3, 4, 5))
  codes[0, 0, :2] = [0, 1]
  np.testing.assert_array_equal(vq.encode(vq.decode(codes)), codes)
  assert vq.decode(codes).shape == (3, 32, 40, 3)


def test_fit_is_exact_with_few_distinct_patches():
  rng = np.random.default_rng(1)
  video = PatchVQ(SOLID, 2).decode(rng.integers(0, 4, (5, 6, 6)))
  vq = PatchVQ.fit(video, codebook_size=8, patch_size=2)
  assert vq.codebook_size == 8
  np.testing.assert_array_equal(vq.decode(vq.encode(video)), video)
  assert vq.psnr(video) == float('inf')


def test_kmeans_recovers_separated_clusters():
  rng = np.random.default_rng(2)
  centres = rng.uniform(40, 215, (5, 12))
  labels = rng.integers(0, 5, 4000)
  patches = np.clip(np.rint(centres[labels] + rng.normal(0, 4, (4000, 12))), 0, 255)
  video = patches.astype(np.uint8).reshape(4000, 2, 2, 3)  # each 2x2 frame is one patch
  a = PatchVQ.fit(video, codebook_size=5, patch_size=2, seed=3)
  b = PatchVQ.fit(video, codebook_size=5, patch_size=2, seed=3)
  np.testing.assert_array_equal(a.codebook, b.codebook)  # deterministic
  found = a.codebook[np.argmin(((centres[:, None] - a.codebook[None]) ** 2).sum(-1), axis=1)]
  np.testing.assert_allclose(found, centres, atol=1.0)  # 4 / sqrt(800) noise on a mean


def test_empty_cluster_moves_to_the_worst_fitted_point():
  x = jnp.array([[0.0], [1.0], [10.0]])
  new = patch_vq._lloyd_step(x, jnp.ones(3), jnp.array([[0.5], [1000.0]]))
  np.testing.assert_allclose(new, [[11 / 3], [10.0]], rtol=1e-6)


def test_psnr_by_hand():
  a = np.zeros((2, 4, 4, 3), np.uint8)
  assert patch_vq.psnr(a, a + 1) == pytest.approx(10 * np.log10(255**2))
  assert patch_vq.psnr(a, a) == float('inf')


def test_reconstruction_psnr_on_held_out_clips(fitted):
  heldout = _videos(32, 'heldout', 1)
  value = fitted.psnr(heldout)
  print(f'PatchVQ(256 codes, 8x8) PSNR on 32 held-out 4x64x64 clips: {value:.2f} dB')
  assert value > 23.0  # 23.9 dB measured with objects of 3/8 and 1/2 of the frame (generator v2)
  recon = fitted.decode(fitted.encode(heldout))
  assert value == pytest.approx(patch_vq.psnr(heldout, recon))
  assert fitted.encode(heldout).shape == (32, 4, 8, 8)
  # A constant frame is represented almost exactly: plain patches dominate the data.
  assert patch_vq.psnr(heldout[:, :, :8, :8], recon[:, :, :8, :8]) > value


def test_codes_fit_the_demo_vocab_and_layout(fitted):
  vocab = vocab_lib.demo(codebook_size=fitted.codebook_size)
  patch_vq.check_vocab(fitted, vocab)
  clip = synthetic.example(0, split='heldout', frames=4)
  codes = fitted.encode(clip.video)
  item = layout.build_item([], list(codes), vocab, duration=clip.duration, fps=clip.fps)
  np.testing.assert_array_equal(np.stack(layout.parse_video(item.tokens, vocab).frames), codes)
  with pytest.raises(ValueError, match='codebook_size=512 but the visual tokenizer has 256'):
    patch_vq.check_vocab(fitted, vocab_lib.demo())
  with pytest.raises(ValueError, match=r'rope_strides=\(4, 8, 8\) .* by \(1, 8, 8\)'):
    patch_vq.check_vocab(fitted, vocab_lib.demo(codebook_size=256, rope_strides=(4, 8, 8)))


def test_bad_inputs_raise_clear_errors():
  vq = PatchVQ(np.zeros((4, 8 * 8 * 3)))
  with pytest.raises(TypeError, match=r'uint8 RGB \[T, H, W, 3\], got dtype float32'):
    vq.encode(np.zeros((2, 16, 16, 3), np.float32))
  with pytest.raises(ValueError, match=r'got shape \(2, 16, 16\)'):
    vq.encode(np.zeros((2, 16, 16), np.uint8))
  with pytest.raises(ValueError, match='frame size 12x16 is not a positive multiple of the patch'):
    vq.encode(np.zeros((2, 12, 16, 3), np.uint8))
  with pytest.raises(ValueError, match=r'codes must lie in \[0, 4\), got range \[0, 4\]'):
    vq.decode(np.array([[0, 4]]))
  with pytest.raises(ValueError, match='codes must be ints'):
    vq.decode(np.zeros((2, 2), np.float32))
  with pytest.raises(ValueError, match=r'codebook must be \[K, 192\]'):
    PatchVQ(np.zeros((4, 12)))
  with pytest.raises(ValueError, match='no videos'):
    PatchVQ.fit([])


def test_save_load_round_trip_and_bad_files(tmp_path):
  vq = PatchVQ(SOLID, patch_size=2)
  path = tmp_path / 'codebook.npz'
  vq.save(path)
  loaded = PatchVQ.load(path)
  np.testing.assert_array_equal(loaded.codebook, vq.codebook)
  assert loaded.patch_size == 2

  def rewrite(name, **changes):
    with np.load(path) as f:
      fields = {**{k: f[k] for k in f.files}, **changes}
    out = tmp_path / name
    with open(out, 'wb') as f:
      np.savez(f, **{k: v for k, v in fields.items() if v is not None})
    return out

  cases = {
      rewrite('v2.npz', format_version=np.asarray(2)): 'PatchVQ format version 2, expected 1',
      rewrite('nokind.npz', kind=None): r"missing \['kind'\]",
      rewrite('shape.npz', patch_size=np.asarray(4)): r'shape \(4, 12\), expected \(4, 48\)',
  }
  corrupt = tmp_path / 'corrupt.npz'
  corrupt.write_bytes(path.read_bytes()[:100])
  cases[corrupt] = 'not a readable PatchVQ codebook'
  for bad, message in cases.items():
    with pytest.raises(ValueError, match=re.escape(str(bad)) + ': .*' + message):
      PatchVQ.load(bad)
  with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'none.npz'))):
    PatchVQ.load(tmp_path / 'none.npz')
