# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The official Lumos-1 training recipes (spec 6.8 and 6.10), used by configs/lumos1_*.py.

Each recipe file is one call of `lumos1_config(size, stage, arg)`; the values below are the
released scripts' unless a comment says otherwise.

Model shapes: the spec (section 4) states that the sizes of the 0.5B / 1B / 3B models are not in
the official code (only in the released checkpoints' config.json). We therefore use the closest
publicly documented decoder shapes of the same nominal size with head_dim a multiple of 32 (the
MM-RoPE channel allocation needs it): Llama-3.2-1B and Llama-3.2-3B for 1B and 3B, Qwen2.5-0.5B
for 0.5B. With the untied 129,536-row embedding and LM head these come to about 1.5B / 3.6B /
0.6B parameters. To fine-tune the released weights, convert them: their config.json then sets the
real shape.

Steps: the official schedule is in epochs (warm-up 0.0025 epochs, then constant, 100 epochs).
Steps per epoch depend on the data set and the global batch, so they are an argument:

  python -m lumos_jax train --config=configs/lumos1_1b_stage1_image.py:steps_per_epoch=50000
"""

from __future__ import annotations

import ml_collections as mlc

from lumos_jax.config import base
from lumos_jax.config.args import parse_arg
from lumos_jax.config.runlocal import runlocal

# Decoder shapes (see the module docstring: documented public shapes, not read from the spec).
MODELS = {
    '0p5b': dict(
        embed_dim=896, num_layers=24, num_heads=14, num_kv_heads=2, head_dim=64, mlp_dim=4864
    ),  # Qwen2.5-0.5B
    '1b': dict(
        embed_dim=2048, num_layers=16, num_heads=32, num_kv_heads=8, head_dim=64, mlp_dim=8192
    ),  # Llama-3.2-1B
    '3b': dict(
        embed_dim=3072, num_layers=28, num_heads=24, num_kv_heads=8, head_dim=128, mlp_dim=8192
    ),  # Llama-3.2-3B
}

# Spec 6.10: lr = min_lr per (size, stage); 0.5B has no released script: it uses the 1B values.
LEARNING_RATES = {
    ('0p5b', 'stage1_image'): 5e-5,
    ('1b', 'stage1_image'): 5e-5,
    ('3b', 'stage1_image'): 1e-4,
    ('0p5b', 'stage2_joint'): 2.5e-5,
    ('1b', 'stage2_joint'): 2.5e-5,
    ('3b', 'stage2_joint'): 2.5e-5,
}
SAVE_EVERY = {  # spec 6.10 "save interval (iters)"; 0.5B as 1B
    ('0p5b', 'stage1_image'): 3000,
    ('1b', 'stage1_image'): 3000,
    ('3b', 'stage1_image'): 1000,
    ('0p5b', 'stage2_joint'): 1000,
    ('1b', 'stage2_joint'): 1000,
    ('3b', 'stage2_joint'): 1000,
}
PAPER_GPUS = 48  # the paper trains on 48 GPUs (6 nodes x 8); released scripts: batch 1 per GPU
STAGES = ('stage1_image', 'stage2_joint')
# Padded lengths: powers of two up to the official max_seq_len (32,768 images, 65,536 joint).
_BUCKETS = tuple(2**k for k in range(10, 17))


def lumos1_config(size: str, stage: str, arg: str | None = None) -> mlc.ConfigDict:
  """The official recipe for one model size and stage; `arg` as in the recipe docstrings."""
  if size not in MODELS or stage not in STAGES:
    raise ValueError(f'size {size!r} / stage {stage!r}: expected {sorted(MODELS)} / {STAGES}')
  arg = parse_arg(arg, steps_per_epoch=10000, epochs=100, gpus=PAPER_GPUS, runlocal=False)
  image_stage = stage == 'stage1_image'
  config = base.get_config()
  config.vocab.update(preset='lumos1', codebook_size=0)  # Cosmos codes from 65,536
  config.model.update(
      **MODELS[size],
      rope_theta=10000.0,  # ChameleonConfig default (checkpoint value unknown, spec 4)
      dtype='bfloat16',  # bf16 autocast, fp32 master weights (spec 6.8)
      remat_policy='full',  # activation checkpointing on every decoder layer
      attention_impl='auto',
  )
  # Data: the user's captioned videos/images (data.user.root); spec 6.1, 6.9, 6.10.
  config.data.update(
      dir='data/lumos1',
      source='user',
      size=256,  # stage 1 and the 256p joint stage; 384p: --config.data.size="(384, 672)"
      frames=1 if image_stage else 25,  # 12 fps x 2 s + the first frame -> 7 Cosmos latents
      fps=1 if image_stage else 12,
      max_text_tokens=256,
      batch_size=arg.gpus,  # batch 1 per GPU (video); the joint stage's images use 6 per GPU
      fps_duration=((1, 1),) if image_stage else ((12, 2),),  # video_fps / video_duration
      image_fraction=1.0 if image_stage else 0.5,  # joint: 1 image step per video step
      length_buckets=_BUCKETS[:-1] if image_stage else _BUCKETS,
  )
  # Cosmos DV4x8x8 (spec 8.1: bf16), converted once with `python -m lumos_jax convert-tokenizer
  # --src <NVIDIA's Cosmos-Tokenizer-DV4x8x8> --out tokenizers/cosmos_dv4x8x8` (docs/tokenizers.md).
  config.data.tokenizer.update(kind='cosmos', path='tokenizers/cosmos_dv4x8x8', dtype='bfloat16')
  lr = LEARNING_RATES[(size, stage)]
  config.optim.update(
      learning_rate=lr,
      min_learning_rate=lr,  # min_lr = lr: constant after warm-up
      warmup_steps=max(1, round(0.0025 * arg.steps_per_epoch)),
  )
  config.loss.update(chunk_size=256, max_frames=1 if image_stage else 8)  # 7 latent frames
  config.train.update(num_steps=arg.epochs * arg.steps_per_epoch, log_every=10, eval_every=1000)
  config.checkpoint.every_steps = SAVE_EVERY[(size, stage)]
  config.mesh.shape = (1, -1, 1)  # FSDP FULL_SHARD over every device
  config.sample.cfg_scale = 16.0 if image_stage else 15.0  # spec 7.1
  return runlocal(config) if arg.runlocal else config
