# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Weight conversion from other checkpoint formats.

`release` (the `convert` command: a released Lumos-1 folder -> a run directory) is imported by
its full name; it pulls in Orbax and the run-directory code.
"""

from lumos_jax.convert.hf_chameleon import load_hf_chameleon, model_config_from_hf

__all__ = ['load_hf_chameleon', 'model_config_from_hf']
