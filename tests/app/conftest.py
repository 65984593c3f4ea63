# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The app serving the shared tiny trained run (tests/conftest.py)."""

import socket

import pytest


@pytest.fixture(scope='session')
def app_url(trained_run, tmp_path_factory):
  """http://127.0.0.1:PORT/ of the app on `trained_run`, served in this process."""
  from lumos_jax.app import ui  # pylint: disable=g-import-not-at-top

  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  page = ui.launch(trained_run, port=port, out_dir=tmp_path_factory.mktemp('app_out'), block=False)
  yield f'http://127.0.0.1:{port}/'
  page.close()
