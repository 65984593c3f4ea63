# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Tiny config for tests and smoke runs: 2 layers, width 64, 32x32 videos of 4 frames.

  python -m lumos_jax train --config=configs/tiny.py --workdir=/tmp/tiny
"""

import ml_collections as mlc


def get_config(arg=None) -> mlc.ConfigDict:
  del arg
  config = mlc.ConfigDict()
  config.seed = 0
  config.vocab = mlc.ConfigDict(dict(preset='demo', codebook_size=64))
  config.model = mlc.ConfigDict(dict(
      embed_dim=64,
      num_layers=2,
      num_heads=4,
      num_kv_heads=2,
      head_dim=32,
      mlp_dim=128,
      rope_variant='mm',
      attention_mask='frame_causal',
      dtype='float32',
      param_dtype='float32',
      remat_policy='none',
  ))
  # Data: synthetic captioned videos, tokenised by the demo patch tokenizer.
  config.data = mlc.ConfigDict(dict(
      dir='data/tiny',  # prepared versions live in <dir>/<hash of the data settings>/
      source='synthetic',  # 'synthetic' | 'user' (a folder of mp4/png + captions, see `user`)
      seed=0,  # synthetic generation and tokenizer fit
      placement='random',  # synthetic paths: 'random' | 'lane' | 'centred' (synthetic.py)
      num_train=96,
      num_heldout=16,
      num_train_images=16,
      num_heldout_images=4,
      frames=4,  # stored clip length (RGB frames at `fps`)
      size=32,
      fps=4,
      max_text_tokens=64,
      text_tokenizer='',  # tokenizer.json for vocabularies without a byte range
      tokenizer=mlc.ConfigDict(dict(patch_size=8, codebook_size=64, iters=10, fit_items=64)),
      user=mlc.ConfigDict(dict(root='', captions='captions.jsonl')),
      num_shards=1,
      on_bad_item='error',  # 'error' | 'skip' (counted and logged)
      # Pipeline (per batch/item, spec 6.1).
      batch_size=8,
      fps_duration=((4, 1),),  # (fps, duration) choices, one per batch; fps divides data fps
      masking_modes=('text_to_video',),  # and/or 'video_next_frame'
      num_given_frames=1,  # context frames in video_next_frame mode
      cfg_dropout=0.1,
      cfg_modes=('text_only',),  # and/or 'text_and_video'
      image_fraction=0.0,  # fraction of image batches (joint training)
      length_buckets=(96, 128, 192),
      prompt_template='{caption}',
      shuffle=True,
      read_threads=2,
      prefetch=2,
      metadata=False,  # add positions / spans / segment ids / loss mask to batches
  ))
  config.ardf = mlc.ConfigDict(dict(mask_type='tube', schedule='cosine', min_masking_rate=0.7))
  config.optim = mlc.ConfigDict(dict(
      learning_rate=3e-3, min_learning_rate=3e-3, warmup_steps=10, decay='constant',
      decay_steps=0, weight_decay=0.1, b1=0.9, b2=0.95, eps=1e-8, grad_clip_norm=4.0,
  ))
  config.loss = mlc.ConfigDict(dict(chunk_size=64, z_loss_weight=0.0, max_frames=8))
  # Driver (lumos_jax/train/loop.py): steps, logging, held-out loss, non-finite guard.
  config.train = mlc.ConfigDict(dict(
      num_steps=20,
      log_every=1,  # metrics.jsonl / TensorBoard / console every N steps
      eval_every=10,  # held-out loss every N steps (0: never)
      eval_batches=1,  # batches of the held-out split per evaluation
      eval_split='heldout',
      max_nonfinite_in_a_row=3,  # skipped non-finite updates in a row before save-and-stop
      progress_bar=True,
  ))
  config.checkpoint = mlc.ConfigDict(dict(every_steps=10, max_to_keep=3, async_save=True))
  # Sampling (lumos_jax.sampling.SamplingConfig fields) and the held-out adherence evaluation.
  config.sample = mlc.ConfigDict(dict(
      steps=4,  # MaskGIT steps per frame (official: 50)
      cfg_scale=3.0,  # guidance scale (official: 15 for video)
      temperature=1.0,
      temperature_mode='official',  # or 'per_frame'
      history_mask_ratio=0.7,
      top_k=0,
      top_p=1.0,
      eval_prompts=8,  # held-out prompts scored by `eval`
      batch_size=16,
      seed=0,
  ))
  config.mesh = mlc.ConfigDict(dict(shape=(-1, 1, 1)))  # (data, fsdp, tensor); one -1 = fill
  return config
