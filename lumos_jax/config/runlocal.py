# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`runlocal=True`: any recipe shrunk to a CPU-sized run that keeps everything else.

Shrunk: the model shape (2 layers of width 64), the data (the embedded synthetic generator at
16x16 pixels, a few dozen items), the visual tokenizer and vocabulary (the demo patch VQ and
preset: the official ones need NVIDIA's Cosmos files and a tokenizer.json), the batch, the steps
and the sampler; (fps, duration)
choices keep their fps with a duration of 1 s (the synthetic objects would leave a 2-second
frame). Kept: the recipe's masking (AR-DF type, schedule, rates), loss, optimizer, frame rates,
image/video mix, CFG dropout, masking modes, attention pattern, RoPE variant, numerics and remat
policy, and the mesh layout.
"""

from __future__ import annotations

import math

import ml_collections as mlc

from lumos_jax import layout

_SIZE = 16  # pixels: 2x2 latents of the demo patch tokenizer


def runlocal(config: mlc.ConfigDict) -> mlc.ConfigDict:
  """Shrinks `config` in place (see the module docstring) and returns it."""
  config.vocab.update(preset='demo', codebook_size=32, latent_per_grid=0, rope_strides=())
  config.model.update(
      embed_dim=64,
      num_layers=2,
      num_heads=4,
      num_kv_heads=2,
      head_dim=32,
      mlp_dim=128,
      q_norm_groups=1,
      k_norm_groups=1,
  )
  d = config.data
  choices = tuple(sorted({(f, 1) for f, _ in d.fps_duration}))
  fps = math.lcm(*(f for f, _ in choices))
  frames = fps
  latents = _SIZE // d.tokenizer.patch_size
  frame_tokens = layout.frame_length(latents, latents)
  longest = d.max_text_tokens + 7 + frames * frame_tokens
  d.update(
      fps_duration=choices,
      source='synthetic',
      dir=d.dir if d.source == 'synthetic' else 'data/runlocal',
      num_train=32,
      num_heldout=8,
      num_train_images=16,
      num_heldout_images=4,
      frames=frames,
      size=_SIZE,
      fps=fps,
      text_tokenizer='',
      num_shards=1,
      batch_size=4,
      read_threads=1,
      length_buckets=tuple(
          sorted({_round_up(d.max_text_tokens + 7 + frame_tokens, 64), _round_up(longest, 64)})
      ),
  )
  d.tokenizer.update(kind='patch_vq', path='', iters=4, fit_items=32)
  config.loss.update(chunk_size=64, max_frames=max(frames, 1))
  config.train.update(num_steps=4, log_every=1, eval_every=2, eval_batches=1)
  config.checkpoint.update(every_steps=2, async_save=False)
  config.sample.update(steps=2, cfg_scale=3.0, image_cfg_scale=3.0, eval_prompts=4, batch_size=4)
  return config


def _round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple
