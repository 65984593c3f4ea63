# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The notebooks run end to end (quickstart: the tiny config; reproduction: a tiny random release
in the official formats) and are stored without outputs."""

import pathlib

import nbformat
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / 'notebooks' / 'quickstart.ipynb'
REPRODUCTION = REPO / 'notebooks' / 'reproduction.ipynb'


@pytest.mark.parametrize('path', [NOTEBOOK, REPRODUCTION], ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
  nb = nbformat.read(path, as_version=4)
  for cell in nb.cells:
    if cell.cell_type == 'code':
      assert not cell.outputs and cell.execution_count is None


def _with_parameters(path, lines):
  nb = nbformat.read(path, as_version=4)
  params = [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
  assert len(params) == 1
  params[0].source = '\n'.join(lines)
  return nb


def _outputs(nb, kind):
  return [
      o for c in nb.cells if c.cell_type == 'code' for o in c.outputs if kind in o.get('data', {})
  ]


def test_quickstart_runs_with_the_tiny_config(tmp_path):
  nbclient = pytest.importorskip('nbclient')
  nb = _with_parameters(
      NOTEBOOK,
      [
          "CONFIG = 'configs/tiny.py'",
          'NUM_STEPS = 4',
          'NUM_PROMPTS = 2',
          f"WORKDIR = '{tmp_path / 'run'}'",
          f"OUT = '{tmp_path / 'samples'}'",
          f"DATA_DIR = '{tmp_path / 'data'}'",
      ],
  )
  nbclient.NotebookClient(
      nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(REPO)}}
  ).execute()
  text = '\n'.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code' for o in c.outputs)
  assert '| colour |' in text
  assert '| frame | history hidden | history shown |' in text
  assert (tmp_path / 'samples' / 'samples.jsonl').exists()
  html = _outputs(nb, 'text/html')
  assert len(html) >= 3  # data clips, samples and their ground truth shown inline


def test_reproduction_runs_on_a_tiny_release(tmp_path):
  """Convert (tokenizer and checkpoint) -> T2I, T2V and I2V shown inline, as the notebook is."""
  nbclient = pytest.importorskip('nbclient')
  import numpy as np  # pylint: disable=g-import-not-at-top
  import safetensors.numpy  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  from lumos_jax import testing  # pylint: disable=g-import-not-at-top

  hf_dir = testing.write_release(tmp_path / 'hf', testing.release_state_dict())
  text_tokenizer = testing.write_text_tokenizer(tmp_path / 'text_tokenizer.json')
  with np.load(testing.COSMOS_FIXTURE) as f:  # NVIDIA's names, reduced sizes
    cosmos = {k[2:]: f[k] for k in f.files if k.startswith('w/')}
  safetensors.numpy.save_file(cosmos, str(tmp_path / 'cosmos_release.safetensors'))
  Image.fromarray(np.full((50, 90, 3), 120, np.uint8)).save(tmp_path / 'first.png')
  nb = _with_parameters(
      REPRODUCTION,
      [
          f"HF_DIR = '{hf_dir}'",
          f"TEXT_TOKENIZER = '{text_tokenizer}'",
          f"COSMOS_SRC = '{tmp_path / 'cosmos_release.safetensors'}'",
          f"COSMOS_DIR = '{tmp_path / 'cosmos'}'",
          f"WORKDIR = '{tmp_path / 'run'}'",
          f"IMAGE = '{tmp_path / 'first.png'}'",
          "PROMPT = 'A red panda eats bamboo.'",
          "I2V_PROMPT = 'It moves.'",
          'STEPS = 1',
          'FRAMES = 2',
          'RESOLUTION = (32, 64)',
          'IMAGE_RESOLUTION = (32, 64)',
      ],
  )
  nbclient.NotebookClient(
      nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(REPO)}}
  ).execute()
  assert (tmp_path / 'run' / 'config.json').is_file() and (tmp_path / 'cosmos').is_dir()
  text = '\n'.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code' for o in c.outputs)
  assert '(5, 32, 64, 3)' in text  # T2V: 2 latent frames -> 5 RGB frames of 64x32
  # the image, the T2V video, the I2V first/last frames and video
  assert len(_outputs(nb, 'text/html')) >= 4
