# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Span-masked attention kernels behind `lumos_jax.model.attention.attend`.

Every kernel takes the arguments of `attention.dense_attention` (q [B, Lq, N, D], k/v [B, Lk, K, D],
int spans [B, Lq], optional segment ids) and matches it in values and gradients:

  blockwise   plain XLA, flash-style online softmax with a custom VJP (any backend).
  pallas_gpu  Pallas/Triton forward and backward kernels (GPU; `interpret=True` runs on CPU).
  splash_tpu  TPU splash attention, two static masks + segment ids derived from the spans.
  cudnn       `jax.nn.dot_product_attention` where its masks fit, blockwise otherwise.

The GPU/TPU modules import Pallas lazily (only when selected).
"""

# Large negative instead of -inf so that fully masked rows give a finite softmax rather than NaN;
# 0.7 * max leaves headroom so adding it to a logit cannot overflow (MaxText DEFAULT_MASK_VALUE).
MASK_VALUE = -0.7 * 3.4028234663852886e38
