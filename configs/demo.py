# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Embedded default: a ~1M-parameter decoder on synthetic captioned 32x32 videos.

The visual tokenizer is the demo patch VQ (8x8 px patches, 128 codes, no temporal compression), so
MM-RoPE strides are (1, 8, 8) and one grid unit is one latent row. A frame is 4x4 latents (24
tokens with its header and new-lines); a training item is 4 frames, at most 167 tokens with a
64-byte caption, padded to 192.

Sized for `make demo` on a 2-core CPU: about 0.2 s per step, 3000 steps in about 10 minutes. See
README "Demo results" for what it reaches and docs/demo.md for how the size was chosen.

  python -m lumos_jax train --config=configs/demo.py --workdir=outputs/demo

Only what differs from the base config (lumos_jax/config/base.py) is set here; the base's data
and model defaults are this demo's.
"""

from lumos_jax.config import base, parse_arg, runlocal


def get_config(arg=None):
  arg = parse_arg(arg, runlocal=False)
  config = base.get_config()
  # MM-RoPE gives h and w 3/8 of the frequencies each, interleaved from high to low. With 16
  # frequencies (head_dim 32) and base 1e4, neighbouring latent rows / columns differ by at most
  # 0.8 / 0.25 rad; base 100 gives 2.5 / 1.4 rad, near the official head_dim 128 at base 1e4
  # (2.5 / 2.9), and the model predicts frames from their history better (docs/demo.md).
  config.model.rope_theta = 100.0
  # Where a synthetic path lies: 'centred' puts it in the middle of the frame, so where the object
  # is in each frame follows from its direction, speed and size, which the model learns from the
  # caption like colour. With 'random' (or 'lane': random across the motion only) the model must
  # carry the position through the history, and motion stays at chance in a CPU-sized run
  # (docs/demo.md).
  config.data.placement = 'centred'
  config.data.image_fraction = 0.2  # one batch in five is images
  # The 4 layers as straight-line code rather than a loop: the same numbers, and on CPU no
  # per-layer slicing and stacking of saved activations (docs/benchmarks.md).
  config.model.scan_unroll = 4
  config.optim.update(
      learning_rate=2e-3, min_learning_rate=2e-4, warmup_steps=100, decay='cosine', decay_steps=3000
  )
  config.sample.update(
      steps=12,  # official: 50
      cfg_scale=3.0,  # official: 15 for video; 2-3 is best for this model
      image_cfg_scale=3.0,  # official: 16
  )
  return runlocal(config) if arg.runlocal else config
