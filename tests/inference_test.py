# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`sample` and `eval` on a trained tiny run: files written, valid layouts, I2V keeps its frame."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lumos_jax import inference, layout, sampling
from lumos_jax.data import synthetic
from lumos_jax.train import loop

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import driver_testing  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  root = tmp_path_factory.mktemp('inference')
  config = driver_testing.load_config(
      'tiny', **{'data.dir': str(root / 'data'), 'train.num_steps': 2, 'train.eval_every': 0,
                 'checkpoint.every_steps': 2, 'train.progress_bar': False})
  loop.run(config, root / 'run')
  return root / 'run'


def test_load_run_restores_the_trained_params(workdir):
  run = inference.load_run(workdir)
  assert run.step == 2
  arrays = inference.checkpoint.load_state_arrays(workdir / 'checkpoints')
  np.testing.assert_array_equal(np.asarray(run.model.lm_head[...]), arrays['params/lm_head/value'])


def test_sample_and_image_to_video(workdir, tmp_path):
  run = inference.load_run(workdir)
  paths = inference.sample_to_files(run, 'a red circle moving left', tmp_path / 'a', frames=3,
                                    fps=4, resolution=(32, 32), steps=2)
  assert [p.suffix for p in paths] == ['.mp4', '.gif', '.png'] and all(p.exists() for p in paths)
  # I2V: the first frame is the tokenised image, and stays so
  image = synthetic.generate(1, seed=3, frames=1, size=32)[0].video[0]
  Image.fromarray(image).save(tmp_path / 'first.png')
  codes = run.visual_tokenizer.encode(image[None])
  sampler = sampling.Sampler(run.model, run.vocab, inference.sampling_config(run.config, steps=2))
  out = sampler.generate(sampling.Request([run.text_tokenizer.encode('a red square')], 3, 4, 4,
                                          duration=1, fps=4, given_frames=[codes]))
  np.testing.assert_array_equal(out.frames[0, :1], codes)
  assert len(layout.parse_video(out.tokens[0], run.vocab).frames) == 3
  paths = inference.sample_to_files(run, 'a red square', tmp_path / 'b', frames=3, fps=4,
                                    resolution=(32, 32), image=str(tmp_path / 'first.png'),
                                    steps=2)
  assert all(p.exists() for p in paths)
  with pytest.raises(ValueError, match='multiple of the patch size'):
    inference.sample_to_files(run, 'x', tmp_path / 'c', frames=2, fps=4, resolution=(30, 32))


def test_eval_command_writes_samples_jsonl(workdir, tmp_path):
  out = tmp_path / 'eval'
  proc = subprocess.run(
      [sys.executable, '-m', 'lumos_jax', 'eval', f'--workdir={workdir}', f'--out={out}',
       '--num_prompts=3', '--steps=2'],
      capture_output=True, text=True, timeout=300, env=driver_testing.subprocess_env(1),
      cwd=driver_testing.REPO)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert '| colour |' in proc.stdout
  assert '| frame | history hidden | history shown |' in proc.stdout
  probe = json.loads((out / 'history_probe.json').read_text())
  assert len(probe['shown']) == 4 and probe['shown'][0] == probe['hidden'][0]
  records = [json.loads(l) for l in (out / 'samples.jsonl').read_text().splitlines()]
  assert len(records) == 3
  for r in records:
    assert set(r) >= {'prompt', 'attributes', 'video', 'reference'}
    assert (out / r['video']).exists() and (out / r['reference']).exists()
