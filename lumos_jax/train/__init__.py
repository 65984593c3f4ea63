# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Training: configs of the step, optimizer, train state and the jitted, sharded train step."""

from lumos_jax.train.config import ARDFConfig, LossConfig, OptimConfig
from lumos_jax.train.optimizer import learning_rate_schedule, make_optimizer
from lumos_jax.train.state import TrainState, create_train_state
from lumos_jax.train.step import StepSettings, compile_train_step, train_step

__all__ = [
    'ARDFConfig',
    'LossConfig',
    'OptimConfig',
    'StepSettings',
    'TrainState',
    'compile_train_step',
    'create_train_state',
    'learning_rate_schedule',
    'make_optimizer',
    'train_step',
]
