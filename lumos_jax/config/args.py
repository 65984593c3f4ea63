# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The config argument: `--config=configs/X.py:key=value,key=value` (big_vision's convention)."""

from __future__ import annotations

import ml_collections as mlc

from lumos_jax.errors import ConfigError

_TRUE, _FALSE = ('true', '1', 'yes'), ('false', '0', 'no')


def parse_arg(arg: str | None, **defaults) -> mlc.ConfigDict:
  """`key=value,...` (the part after ':') over typed defaults; unknown keys are errors."""
  out = mlc.ConfigDict(defaults)
  for item in filter(None, (arg or '').split(',')):
    key, _, value = item.partition('=')
    if key not in defaults:
      raise ConfigError(f'config argument {key!r}: unknown; expected one of {sorted(defaults)}')
    kind = type(defaults[key])
    if kind is bool:
      if value.lower() not in _TRUE + _FALSE:
        raise ConfigError(f'config argument {key}={value!r}: expected True or False')
      out[key] = value.lower() in _TRUE
    else:
      try:
        out[key] = kind(value)
      except ValueError:
        raise ConfigError(f'config argument {key}={value!r}: expected {kind.__name__}') from None
  return out
