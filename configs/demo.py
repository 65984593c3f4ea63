# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Embedded default: a ~1M-parameter decoder on synthetic captioned 32x32 videos.

The visual tokenizer is the demo patch VQ (8x8 px patches, 128 codes, no temporal compression), so
MM-RoPE strides are (1, 8, 8) and one grid unit is one latent row. A frame is 4x4 latents (24
tokens with its header and new-lines); a training item is 4 frames, at most 167 tokens with a
64-byte caption, padded to 192.

Sized for `make demo` on a 2-core CPU: about 0.37 s per step, 3000 steps in about 19 minutes. See
README "Demo results" for what it reaches and docs/demo.md for how the size was chosen.

  python -m lumos_jax train --config=configs/demo.py --workdir=outputs/demo
"""

import ml_collections as mlc


def get_config(arg=None) -> mlc.ConfigDict:
  del arg
  config = mlc.ConfigDict()
  config.seed = 0
  config.vocab = mlc.ConfigDict(dict(preset='demo', codebook_size=128))
  config.model = mlc.ConfigDict(dict(
      embed_dim=128,
      num_layers=4,
      num_heads=4,
      num_kv_heads=2,
      head_dim=32,
      mlp_dim=512,
      # MM-RoPE gives h and w 3/8 of the frequencies each, interleaved from high to low. With 16
      # frequencies (head_dim 32) and base 1e4, neighbouring latent rows / columns differ by at most
      # 0.8 / 0.25 rad; base 100 gives 2.5 / 1.4 rad, near the official head_dim 128 at base 1e4
      # (2.5 / 2.9), and the model predicts frames from their history better (docs/demo.md).
      rope_theta=100.0,
      rope_variant='mm',
      attention_mask='frame_causal',
      dtype='float32',
      param_dtype='float32',
      remat_policy='none',
  ))
  # Data: 8-frame 32x32 clips at 8 fps; training items are 4 frames at 4 fps (every 2nd frame),
  # 24 tokens per frame, <= 167 tokens with a 64-byte prompt. One batch in five is images.
  config.data = mlc.ConfigDict(dict(
      dir='data/demo',  # prepared versions live in <dir>/<hash of the data settings>/
      source='synthetic',  # 'synthetic' | 'user' (a folder of mp4/png + captions, see `user`)
      seed=0,  # synthetic generation and tokenizer fit
      # Where a synthetic path lies: 'centred' puts it in the middle of the frame, so where the
      # object is in each frame follows from its direction, speed and size, which the model learns
      # from the caption like colour. With 'random' (or 'lane': random across the motion only)
      # the model must carry the position through the history, and motion stays at chance in a
      # CPU-sized run (docs/demo.md).
      placement='centred',  # 'random' | 'lane' | 'centred'
      num_train=4000,
      num_heldout=64,
      num_train_images=1000,
      num_heldout_images=16,
      frames=8,  # stored clip length (RGB frames at `fps`)
      size=32,  # 4x4 latents of 8x8 px: 24 tokens per frame
      fps=8,
      max_text_tokens=64,
      text_tokenizer='',  # tokenizer.json for vocabularies without a byte range
      tokenizer=mlc.ConfigDict(dict(patch_size=8, codebook_size=128, iters=20, fit_items=256)),
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
      image_fraction=0.2,  # fraction of image batches (joint training)
      length_buckets=(192, 256, 384),
      prompt_template='{caption}',
      shuffle=True,
      read_threads=2,
      prefetch=2,
      metadata=False,  # add positions / spans / segment ids / loss mask to batches
  ))
  config.ardf = mlc.ConfigDict(dict(mask_type='tube', schedule='cosine', min_masking_rate=0.7))
  config.optim = mlc.ConfigDict(dict(
      learning_rate=2e-3, min_learning_rate=2e-4, warmup_steps=100, decay='cosine',
      decay_steps=3000, weight_decay=0.1, b1=0.9, b2=0.95, eps=1e-8, grad_clip_norm=4.0,
  ))
  config.loss = mlc.ConfigDict(dict(chunk_size=128, z_loss_weight=0.0, max_frames=8))
  # Driver (lumos_jax/train/loop.py): steps, logging, held-out loss, non-finite guard.
  config.train = mlc.ConfigDict(dict(
      num_steps=3000,
      log_every=25,  # metrics.jsonl / TensorBoard / console every N steps
      eval_every=250,  # held-out loss every N steps (0: never)
      eval_batches=4,  # batches of the held-out split per evaluation
      eval_split='heldout',
      max_nonfinite_in_a_row=10,  # skipped non-finite updates in a row before save-and-stop
      progress_bar=True,
  ))
  config.checkpoint = mlc.ConfigDict(dict(every_steps=500, max_to_keep=3, async_save=True))
  # Sampling (lumos_jax.sampling.SamplingConfig fields) and the held-out adherence evaluation.
  config.sample = mlc.ConfigDict(dict(
      steps=12,  # MaskGIT steps per frame (official: 50)
      cfg_scale=3.0,  # guidance scale (official: 15 for video; 2-3 is best for this model)
      temperature=1.0,
      temperature_mode='official',  # or 'per_frame'
      history_mask_ratio=0.7,
      top_k=0,
      top_p=1.0,
      eval_prompts=64,  # held-out prompts scored by `eval`
      batch_size=16,
      seed=0,
  ))
  config.mesh = mlc.ConfigDict(dict(shape=(-1, 1, 1)))  # (data, fsdp, tensor); one -1 = fill
  return config
