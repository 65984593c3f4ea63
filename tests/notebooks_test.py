# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""notebooks/quickstart.ipynb runs end to end (tiny config) and is stored without outputs."""

import pathlib

import nbformat
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / 'notebooks' / 'quickstart.ipynb'


def test_notebook_is_stored_without_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  for cell in nb.cells:
    if cell.cell_type == 'code':
      assert not cell.outputs and cell.execution_count is None


def test_quickstart_runs_with_the_tiny_config(tmp_path):
  nbclient = pytest.importorskip('nbclient')
  nb = nbformat.read(NOTEBOOK, as_version=4)
  params = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
  assert len(params) == 1
  params[0].source = '\n'.join(
      [
          "CONFIG = 'configs/tiny.py'",
          'NUM_STEPS = 4',
          'NUM_PROMPTS = 2',
          f"WORKDIR = '{tmp_path / 'run'}'",
          f"OUT = '{tmp_path / 'samples'}'",
          f"DATA_DIR = '{tmp_path / 'data'}'",
      ]
  )
  nbclient.NotebookClient(
      nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(REPO)}}
  ).execute()
  text = '\n'.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code' for o in c.outputs)
  assert '| colour |' in text
  assert '| frame | history hidden | history shown |' in text
  assert (tmp_path / 'samples' / 'samples.jsonl').exists()
  html = [
      o
      for c in nb.cells
      if c.cell_type == 'code'
      for o in c.outputs
      if 'text/html' in o.get('data', {})
  ]
  assert len(html) >= 3  # data clips, samples and their ground truth shown inline
