# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`sample` and `eval` on a trained tiny run whose data folder is deleted: files written, valid
layouts, I2V keeps its frame, params-only restore, one-line errors for bad input."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import nnx
from PIL import Image

from orbax.checkpoint._src.serialization import type_handlers

from lumos_jax import checkpoint, inference, layout, run_dir, sampling
from lumos_jax import testing as driver_testing
from lumos_jax.data import synthetic
from lumos_jax.errors import UserError


@pytest.fixture
def workdir(trained_run):
  return trained_run


def test_run_directory_holds_its_assets(workdir):
  for name in (run_dir.CONFIG, run_dir.VOCAB, run_dir.VISUAL_TOKENIZER, run_dir.HELDOUT):
    assert (workdir / name).is_file(), name
  config = run_dir.read_config(workdir)
  assert run_dir.read_vocab(workdir) == config.vocab
  heldout = run_dir.heldout(workdir)
  assert len(heldout) == config.sample.eval_prompts == 8  # tiny: 8 of its 16 held-out videos
  assert all(r.codes.shape == (4, 4, 4) and r.caption for r in heldout)


def test_params_only_restore_reads_no_optimizer_arrays(workdir, monkeypatch):
  read = []
  original = type_handlers.ArrayHandler.deserialize

  async def recording(self, infos, args=None):
    read.extend(info.name for info in infos)
    return await original(self, infos, args)

  monkeypatch.setattr(type_handlers.ArrayHandler, 'deserialize', recording)
  run = inference.load_run(workdir)
  assert read and all(name.startswith('params.') for name in read), read
  params = jax.tree.leaves(nnx.state(run.model))
  assert len(read) == len(params)


def test_load_run_restores_the_trained_params(workdir):
  run = inference.load_run(workdir)
  assert run.step == 2
  arrays = checkpoint.load_state_arrays(workdir / 'checkpoints')
  np.testing.assert_array_equal(np.asarray(run.model.lm_head[...]), arrays['params/lm_head/value'])


def test_sample_and_image_to_video(workdir, tmp_path):
  run = inference.load_run(workdir)
  paths = inference.sample_to_files(
      run, 'a red circle moving left', tmp_path / 'a', frames=3, fps=4, resolution=(32, 32), steps=2
  )
  assert [p.suffix for p in paths] == ['.mp4', '.gif', '.png'] and all(p.exists() for p in paths)
  # I2V: the first frame is the tokenised image, and stays so
  image = synthetic.generate(1, seed=3, frames=1, size=32)[0].video[0]
  Image.fromarray(image).save(tmp_path / 'first.png')
  codes = run.visual_tokenizer.encode(image[None])
  sampler = sampling.Sampler(run.model, run.vocab, run.config.sample.sampling(steps=2))
  out = sampler.generate(
      sampling.Request(
          [run.text_tokenizer.encode('a red square')],
          3,
          4,
          4,
          duration=1,
          fps=4,
          given_frames=[codes],
      )
  )
  np.testing.assert_array_equal(out.frames[0, :1], codes)
  assert len(layout.parse_video(out.tokens[0], run.vocab).frames) == 3
  paths = inference.sample_to_files(
      run,
      'a red square',
      tmp_path / 'b',
      frames=3,
      fps=4,
      resolution=(32, 32),
      image=str(tmp_path / 'first.png'),
      steps=2,
  )
  assert all(p.exists() for p in paths)
  with pytest.raises(UserError, match='positive multiples of the visual tokenizer'):
    inference.sample_to_files(run, 'x', tmp_path / 'c', frames=2, fps=4, resolution=(30, 32))


def test_eval_command_writes_samples_jsonl(workdir, tmp_path):
  out = tmp_path / 'eval'
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'lumos_jax',
          'eval',
          f'--workdir={workdir}',
          f'--out={out}',
          '--num_prompts=3',
          '--steps=2',
      ],
      capture_output=True,
      text=True,
      timeout=300,
      env=driver_testing.subprocess_env(1),
      cwd=driver_testing.REPO,
  )
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


def _cli(*args):
  return subprocess.run(
      [sys.executable, '-m', 'lumos_jax', *args],
      capture_output=True,
      text=True,
      timeout=300,
      env=driver_testing.subprocess_env(1),
      cwd=driver_testing.REPO,
  )


def test_bad_sample_requests_are_one_line_errors(workdir, tmp_path):
  (tmp_path / 'not_an_image.png').write_text('hello')
  cases = {
      (f'--workdir={tmp_path / "missing"}',): 'no such directory',
      (f'--workdir={workdir}', f'--image={tmp_path / "not_an_image.png"}'): 'cannot read it as an',
      (f'--workdir={workdir}', '--resolution=33x17'): 'resolution 33x17 (WxH)',
      (f'--workdir={workdir}', '--frames=-2'): 'frames=-2: expected at least 1',
      (f'--workdir={workdir}', '--resolution=big'): "--resolution='big': expected WxH",
  }
  for args, message in cases.items():
    proc = _cli('sample', '--prompt=a red circle', f'--out={tmp_path / "x"}', *args)
    assert proc.returncode == 2, (args, proc.stderr[-2000:])
    assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    assert 'error: ' in proc.stderr and message in proc.stderr, (message, proc.stderr[-2000:])
  proc = _cli('sample', '--prompt=x', f'--workdir={workdir}', '--frames=-2', '--debug')
  assert proc.returncode != 0 and 'Traceback' in proc.stderr
