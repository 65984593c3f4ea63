# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Writing a new directory atomically: build it under a temporary sibling name, then rename.

An interrupted writer leaves no half-written directory at the target name (the converters of
released files use this; a user's existing files are never touched).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
from typing import Iterator

from lumos_jax.errors import UserError


def check_free(out: str | os.PathLike, flag: str = '--out') -> None:
  """A UserError unless `out` is absent or an empty directory."""
  out = pathlib.Path(out)
  if out.exists() and (not out.is_dir() or any(out.iterdir())):
    raise UserError(f'{flag}={out}: already exists and is not an empty directory; remove it first')


@contextlib.contextmanager
def new_directory(out: str | os.PathLike) -> Iterator[pathlib.Path]:
  """Yields a temporary directory beside `out` to fill; renamed to `out` when the block ends,
  removed when it raises. `out` must be absent or empty (`check_free`)."""
  out = pathlib.Path(out)
  check_free(out)
  out.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f'.{out.name}.tmp-', dir=out.parent))
  try:
    yield tmp
    os.chmod(tmp, 0o755)  # mkdtemp makes it private
    if out.exists():
      out.rmdir()  # empty (checked above); a rename cannot replace a directory portably
    os.rename(tmp, out)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
