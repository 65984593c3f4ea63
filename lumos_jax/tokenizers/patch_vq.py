# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Visual tokenizer protocol and the demo tokenizer: k-means over RGB patches.

`PatchVQ` cuts frames into p x p pixel patches (no temporal compression) and replaces each patch
by its nearest codeword. The codebook is fitted with weighted k-means (greedy k-means++ seeding,
empty clusters re-seeded at the worst-fitted patches) on the distinct patches of the data, which
for synthetic clips are far fewer than all patches.
"""

from __future__ import annotations

import os
from typing import Iterable, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from lumos_jax.vocab import Vocab

FORMAT_VERSION = 1
_KIND = 'lumos_jax.PatchVQ'
_FIELDS = ('kind', 'format_version', 'patch_size', 'codebook_size', 'codebook')
_ENCODE_CHUNK = 8192  # patches per distance matrix in `encode`: 8192 x K float64
_FIT_CHUNK = 4096  # patches per distance matrix inside k-means


class VisualTokenizer(Protocol):
  """Maps uint8 videos [T, H, W, 3] to int32 codes [t, H / spatial, W / spatial] and back.

  t = ceil((T - 1) / temporal) + 1 (`layout.latent_frames`: T for the patch VQ, whose temporal
  compression is 1; Cosmos DV4x8x8: 25 -> 7); `decode` returns temporal * (t - 1) + 1 frames.
  """

  @property
  def codebook_size(self) -> int:
    ...

  @property
  def temporal_compression(self) -> int:
    ...

  @property
  def spatial_compression(self) -> int:
    ...

  def encode(self, video: np.ndarray) -> np.ndarray:
    ...

  def decode(self, codes: np.ndarray) -> np.ndarray:
    ...


def check_vocab(tokenizer: VisualTokenizer, vocab: Vocab) -> None:
  """Raises ValueError unless the vocabulary's codebook size and MM-RoPE strides fit the tokenizer.

  The strides count RGB frames and pixels per latent step, i.e. the compression factors.
  """
  strides = (tokenizer.temporal_compression,) + (tokenizer.spatial_compression,) * 2
  if vocab.codebook_size != tokenizer.codebook_size:
    raise ValueError(
        f'Vocab.codebook_size={vocab.codebook_size} but the visual tokenizer has '
        f'{tokenizer.codebook_size} codes'
    )
  if vocab.rope_strides != strides:
    raise ValueError(
        f'Vocab.rope_strides={vocab.rope_strides} but the visual tokenizer compresses (t, h, w) '
        f'by {strides}'
    )


def psnr(reference: np.ndarray, reconstruction: np.ndarray) -> float:
  """Peak signal-to-noise ratio in dB of uint8 images (inf when they are equal)."""
  if reference.shape != reconstruction.shape:
    raise ValueError(f'shapes differ: {reference.shape} vs {reconstruction.shape}')
  mse = np.mean((reference.astype(np.float64) - reconstruction.astype(np.float64)) ** 2)
  return float('inf') if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _patches(video, patch_size: int) -> np.ndarray:
  """uint8 [..., H, W, 3] -> uint8 [..., H / p, W / p, p * p * 3], with clear input errors."""
  video = np.asarray(video)
  if video.dtype != np.uint8:
    raise TypeError(f'video must be uint8 RGB [T, H, W, 3], got dtype {video.dtype}')
  if video.ndim < 3 or video.shape[-1] != 3:
    raise ValueError(f'video must be uint8 RGB [T, H, W, 3], got shape {video.shape}')
  *lead, h, w, _ = video.shape
  p = patch_size
  if h % p or w % p or not h or not w:
    raise ValueError(
        f'frame size {h}x{w} is not a positive multiple of the patch size {p} (shape {video.shape})'
    )
  x = video.reshape(*lead, h // p, p, w // p, p, 3)
  x = np.moveaxis(x, -4, -3)  # [..., H/p, W/p, p, p, 3]
  return x.reshape(*lead, h // p, w // p, p * p * 3)


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Distinct rows of uint8 [N, D], the inverse index [N] and the counts.

  Sorting rows as opaque byte strings is ~100x faster than `np.unique(axis=0)`.
  """
  rows = np.ascontiguousarray(rows)
  keys = rows.view(np.dtype((np.void, rows.shape[1]))).reshape(-1)
  _, first, inverse, counts = np.unique(
      keys, return_index=True, return_inverse=True, return_counts=True
  )
  return rows[first], inverse.reshape(-1), counts


def _as_videos(videos) -> list[np.ndarray]:
  if isinstance(videos, (np.ndarray, jax.Array)):
    return [np.asarray(videos)]
  return [np.asarray(v) for v in videos]


def _nearest(x: jax.Array, centroids: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Index of and squared distance to the nearest centroid, for x [N, D], chunked over N."""
  c_sq = jnp.sum(centroids * centroids, axis=-1)

  def one(xi):
    d = jnp.sum(xi * xi) - 2 * (centroids @ xi) + c_sq
    i = jnp.argmin(d)
    return i, jnp.maximum(d[i], 0.0)

  return jax.lax.map(one, x, batch_size=_FIT_CHUNK)


@jax.jit
def _kmeans_pp(x: jax.Array, weights: jax.Array, key: jax.Array, codebook: jax.Array):
  """Greedy k-means++ seeding, as in scikit-learn.

  Each step draws a few candidates with probability ~ weight * distance^2 and keeps the one that
  lowers the weighted inertia most; plain k-means++ often leaves two seeds in one cluster.
  """
  trials = 2 + int(np.log(codebook.shape[0]))
  x_sq = jnp.sum(x * x, axis=-1)

  def body(i, state):
    codebook, min_d, key = state
    key, sub = jax.random.split(key)
    cand = jax.random.categorical(sub, jnp.log(weights * min_d), shape=(trials,))
    c = x[cand]
    d = jnp.maximum(x_sq[None] - 2 * c @ x.T + jnp.sum(c * c, axis=-1)[:, None], 0.0)
    d = jnp.minimum(min_d[None], d)  # [trials, N]
    best = jnp.argmin(d @ weights)
    return codebook.at[i].set(c[best]), d[best], key

  min_d = jnp.full(x.shape[:1], jnp.inf, x.dtype)  # first draw: by weight alone
  return jax.lax.fori_loop(0, codebook.shape[0], body, (codebook, min_d, key))[0]


@jax.jit
def _lloyd_step(x: jax.Array, weights: jax.Array, centroids: jax.Array) -> jax.Array:
  """One weighted Lloyd iteration; an empty cluster moves to one of the worst-fitted points."""
  k = centroids.shape[0]
  idx, dist = _nearest(x, centroids)
  sums = jax.ops.segment_sum(weights[:, None] * x, idx, num_segments=k)
  counts = jax.ops.segment_sum(weights, idx, num_segments=k)
  means = sums / jnp.maximum(counts, 1e-12)[:, None]
  empty = counts == 0
  worst = jax.lax.top_k(weights * dist, k)[1]  # distinct points, so reseeds never collide
  reseed = x[worst[jnp.cumsum(empty) - 1]]
  return jnp.where(empty[:, None], reseed, means)


class PatchVQ:
  """Vector quantiser of p x p RGB patches: temporal compression 1, spatial compression p.

  Attributes:
    codebook: float32 [codebook_size, p * p * 3] codewords (pixel values in [0, 255]).
    patch_size: p.
  """

  temporal_compression = 1

  def __init__(self, codebook: np.ndarray, patch_size: int = 8):
    codebook = np.asarray(codebook, np.float32)
    if codebook.ndim != 2 or codebook.shape[1] != patch_size * patch_size * 3 or not len(codebook):
      raise ValueError(
          f'codebook must be [K, {patch_size * patch_size * 3}] for patch size {patch_size}, '
          f'got {codebook.shape}'
      )
    self.codebook = codebook
    self.patch_size = int(patch_size)

  @property
  def codebook_size(self) -> int:
    return len(self.codebook)

  @property
  def spatial_compression(self) -> int:
    return self.patch_size

  @classmethod
  def fit(
      cls,
      videos: np.ndarray | Iterable[np.ndarray],
      codebook_size: int = 512,
      patch_size: int = 8,
      iters: int = 20,
      seed: int = 0,
      max_patches: int = 200_000,
  ) -> PatchVQ:
    """Fits a codebook by k-means on the patches of uint8 videos.

    Args:
      videos: a uint8 array [..., H, W, 3] or an iterable of them (sizes may differ).
      codebook_size: number of codewords K.
      patch_size: p; H and W must be multiples of it.
      iters: Lloyd iterations after k-means++ seeding.
      seed: seeds the patch subsample and the seeding.
      max_patches: at most this many patches (drawn at random) are used.

    Returns:
      The fitted tokenizer. With at most K distinct patches, every one becomes a codeword.
    """
    dim = patch_size * patch_size * 3
    videos = _as_videos(videos)
    if not videos:
      raise ValueError('PatchVQ.fit got no videos')
    patches = np.concatenate([_patches(v, patch_size).reshape(-1, dim) for v in videos])
    rng = np.random.default_rng(seed)
    if len(patches) > max_patches:
      patches = patches[rng.choice(len(patches), max_patches, replace=False)]
    points, _, counts = _unique_rows(patches)
    if len(points) <= codebook_size:  # exact; the padding repeats are never chosen by encode
      return cls(np.resize(points, (codebook_size, dim)), patch_size)
    x = jnp.asarray(points, jnp.float32)
    w = jnp.asarray(counts, jnp.float32)
    key = jax.random.key(int(rng.integers(2**31)))
    centroids = _kmeans_pp(x, w, key, jnp.zeros((codebook_size, dim), jnp.float32))
    for _ in range(iters):
      centroids = _lloyd_step(x, w, centroids)
    return cls(np.asarray(centroids), patch_size)

  def encode(self, video: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W, 3] (a video [T, H, W, 3] or an image) -> int32 codes [..., H/p, W/p]."""
    patches = _patches(video, self.patch_size)
    # Distances only for distinct patches (synthetic clips repeat most of theirs), in float64 so
    # that a patch equal to a codeword always maps to it: float32 rounding of the ~1e7 squared
    # norms could tie codewords that differ by one grey level.
    unique, inverse, _ = _unique_rows(patches.reshape(-1, patches.shape[-1]))
    c = self.codebook.astype(np.float64)
    c_sq = np.sum(c * c, axis=-1)
    codes = np.empty(len(unique), np.int32)
    for i in range(0, len(unique), _ENCODE_CHUNK):
      chunk = unique[i : i + _ENCODE_CHUNK].astype(np.float64)
      codes[i : i + _ENCODE_CHUNK] = np.argmin(c_sq - 2 * chunk @ c.T, axis=-1)
    return codes[inverse].reshape(patches.shape[:-1])

  def decode(self, codes: np.ndarray) -> np.ndarray:
    """int codes [..., H/p, W/p] -> uint8 [..., H, W, 3]."""
    codes = np.asarray(codes)
    if codes.ndim < 2 or not np.issubdtype(codes.dtype, np.integer):
      raise ValueError(f'codes must be ints [..., H/p, W/p], got {codes.dtype} {codes.shape}')
    if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
      raise ValueError(
          f'codes must lie in [0, {self.codebook_size}), got range [{codes.min()}, {codes.max()}]'
      )
    p = self.patch_size
    *lead, hl, wl = codes.shape
    pixels = np.clip(np.rint(self.codebook[codes]), 0, 255).astype(np.uint8)
    pixels = np.moveaxis(pixels.reshape(*lead, hl, wl, p, p, 3), -3, -4)  # [..., Hl, p, Wl, p, 3]
    return pixels.reshape(*lead, hl * p, wl * p, 3)

  def psnr(self, videos: np.ndarray | Iterable[np.ndarray]) -> float:
    """Reconstruction PSNR in dB of decode(encode(.)) over all pixels of the videos."""
    videos = _as_videos(videos)
    recon = [self.decode(self.encode(v)) for v in videos]
    flat = lambda vs: np.concatenate([v.reshape(-1) for v in vs])
    return psnr(flat(videos), flat(recon))

  def save(self, path: str | os.PathLike) -> None:
    """Writes the codebook and its metadata to `path` (.npz, written to exactly that name)."""
    with open(path, 'wb') as f:
      np.savez(
          f,
          kind=np.asarray(_KIND),
          format_version=np.asarray(FORMAT_VERSION),
          patch_size=np.asarray(self.patch_size),
          codebook_size=np.asarray(self.codebook_size),
          codebook=self.codebook,
      )

  @classmethod
  def load(cls, path: str | os.PathLike) -> PatchVQ:
    """Reads a file written by `save`; errors name the file and what was expected."""
    path = os.fspath(path)
    if not os.path.isfile(path):
      raise FileNotFoundError(f'PatchVQ codebook file {path} not found')
    try:
      with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    except Exception as e:  # zipfile, pickle and format errors from a corrupt file
      raise ValueError(f'{path}: not a readable PatchVQ codebook (.npz): {e}') from e
    missing = [k for k in _FIELDS if k not in data]
    if missing or str(data['kind']) != _KIND:
      raise ValueError(
          f'{path}: not a PatchVQ codebook file (expected fields {list(_FIELDS)} with kind '
          f'{_KIND!r}; missing {missing})'
      )
    if int(data['format_version']) != FORMAT_VERSION:
      raise ValueError(
          f'{path}: PatchVQ format version {int(data["format_version"])}, expected '
          f'{FORMAT_VERSION}'
      )
    p, k = int(data['patch_size']), int(data['codebook_size'])
    if data['codebook'].shape != (k, p * p * 3):
      raise ValueError(
          f'{path}: codebook shape {data["codebook"].shape}, expected ({k}, {p * p * 3}) for '
          f'codebook_size={k} and patch_size={p}'
      )
    return cls(data['codebook'], p)
