# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""optax AdamW with global-norm clipping and a warm-up + constant/cosine learning rate."""

from __future__ import annotations

import optax

from lumos_jax.train.config import OptimConfig


def learning_rate_schedule(config: OptimConfig) -> optax.Schedule:
  """Linear warm-up from 0, then constant or half-cosine down to min_learning_rate."""
  if config.decay == 'cosine':
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.learning_rate,
        warmup_steps=config.warmup_steps,
        decay_steps=config.decay_steps,
        end_value=config.min_learning_rate,
    )
  constant = optax.constant_schedule(config.learning_rate)
  if not config.warmup_steps:
    return constant
  warmup = optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)
  return optax.join_schedules([warmup, constant], [config.warmup_steps])


def make_optimizer(config: OptimConfig) -> optax.GradientTransformation:
  """clip_by_global_norm then AdamW; like the official recipe every parameter is decayed."""
  return optax.chain(
      optax.clip_by_global_norm(config.grad_clip_norm),
      optax.adamw(
          learning_rate_schedule(config),
          b1=config.b1,
          b2=config.b2,
          eps=config.eps,
          weight_decay=config.weight_decay,
      ),
  )
