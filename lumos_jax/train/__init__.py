# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Training: configs of the step, optimizer, train state and the jitted, sharded train step."""

from lumos_jax.train.config import (
    ARDFConfig,
    CheckpointConfig,
    LossConfig,
    OptimConfig,
    TrainConfig,
)
from lumos_jax.train.optimizer import learning_rate_schedule, make_optimizer
from lumos_jax.train.state import TrainState, abstract_train_state, create_train_state
from lumos_jax.train.step import (
    StepSettings,
    compile_eval_step,
    compile_train_step,
    eval_step,
    train_step,
)

__all__ = [
    'ARDFConfig',
    'CheckpointConfig',
    'LossConfig',
    'OptimConfig',
    'StepSettings',
    'TrainConfig',
    'TrainState',
    'abstract_train_state',
    'compile_eval_step',
    'compile_train_step',
    'create_train_state',
    'eval_step',
    'learning_rate_schedule',
    'make_optimizer',
    'train_step',
]
