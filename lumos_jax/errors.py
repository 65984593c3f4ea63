# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Errors caused by what a user gave us (config, files, data records, command-line values).

The command line prints a `UserError` as one line and exits non-zero (`--debug` shows the
traceback); any other exception is a bug and keeps its traceback. Subclasses of ValueError, so
callers that catch ValueError keep working.
"""

import sys
from typing import Callable


class UserError(ValueError):
  """Bad input from the user: the message names the file, record, field or flag, and what was
  expected."""


class ConfigError(UserError):
  """A config key that is unknown, of the wrong type or out of range; the message starts with
  its path (`config.model.embed_dim: ...`)."""


def run_command(command: Callable[[], int], debug: bool = False) -> int:
  """Runs a command-line command: its exit status, or 2 after one `error: ...` line on stderr for
  a user error (a UserError, or a file not found); `debug` lets the error raise (traceback)."""
  try:
    return command()
  except (UserError, FileNotFoundError) as e:
    if debug:
      raise
    print(f'error: {e}', file=sys.stderr)
    return 2
