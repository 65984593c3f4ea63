# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`sample --prompts`: parts and processes share the jobs exactly, outputs do not depend on the
batch or the part, a rerun resumes, evaluation layouts get files of the right kind and size."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lumos_jax import batch_sampling, inference
from lumos_jax import testing as driver_testing
from lumos_jax.errors import UserError
from lumos_jax.evaluation import prompt_sets


@pytest.fixture(scope='module')
def run(trained_run):
  return inference.load_run(trained_run)


def test_parts_and_processes_cover_every_job_once():
  jobs = list(range(23))
  seen = []
  for part in range(3):
    for process in range(2):
      seen += batch_sampling.share(jobs, (part, 3), (process, 2))
  assert sorted(seen) == jobs
  assert batch_sampling.share(jobs, (1, 3), (0, 1)) == [1, 4, 7, 10, 13, 16, 19, 22]


@pytest.mark.parametrize(
    'text, message', [('1/1', '0 <= i < n'), ('1', 'expected i/n'), ('a/2', 'expected i/n')]
)
def test_bad_part(text, message):
  with pytest.raises(UserError, match=message):
    batch_sampling.parse_part(text)
  assert batch_sampling.parse_part('0/4') == (0, 4)


def _sample(run, prompt_set, out, **kw):
  kw = {'frames': 2, 'fps': 2, 'resolution': lambda job: (16, 16), 'steps': 2, **kw}
  return batch_sampling.sample_prompt_set(run, prompt_set, out, **kw)


def test_parts_batches_and_resume_give_the_same_files(run, tmp_path, read_mp4):
  prompts = tmp_path / 'prompts.txt'
  prompts.write_text('a red circle moves left\na blue square\na green triangle\n')
  one = prompt_sets.read('lines', prompts, tmp_path / 'one', samples_per_prompt=2, seed=3)
  summary = _sample(run, one, tmp_path / 'one', batch=4)
  assert summary == batch_sampling.Summary(written=6, skipped=0, share=6)
  names = sorted(p.name for p in (tmp_path / 'one').iterdir())
  assert names == sorted(
      [f'{i:05d}-{k}.mp4' for i in range(3) for k in range(2)] + ['prompts.jsonl']
  )
  video = read_mp4(tmp_path / 'one' / '00001-1.mp4')
  assert video.shape == (2, 16, 16, 3)  # the tiny run's tokenizer: 1 latent = 1 frame

  # two parts with another batch size: the same six files
  parts = prompt_sets.read('lines', prompts, tmp_path / 'two', samples_per_prompt=2, seed=3)
  done = [_sample(run, parts, tmp_path / 'two', batch=1, part=(i, 2)).written for i in range(2)]
  assert done == [3, 3]
  for name in names:
    if name.endswith('.mp4'):
      np.testing.assert_array_equal(
          read_mp4(tmp_path / 'one' / name), read_mp4(tmp_path / 'two' / name)
      )

  # resume: a lost file and a half-written one left behind by a kill
  (tmp_path / 'two' / '00002-0.mp4').unlink()
  (tmp_path / 'two' / '.partial').mkdir()
  (tmp_path / 'two' / '.partial' / '0-1.mp4').write_bytes(b'half')
  summary = _sample(run, parts, tmp_path / 'two', batch=2)
  assert summary == batch_sampling.Summary(written=1, skipped=5, share=6)
  np.testing.assert_array_equal(
      read_mp4(tmp_path / 'one' / '00002-0.mp4'), read_mp4(tmp_path / 'two' / '00002-0.mp4')
  )


def test_geneval_and_vbench_i2v_layouts(run, tmp_path, read_mp4):
  meta = tmp_path / 'meta.jsonl'
  meta.write_text(json.dumps({'prompt': 'a red circle', 'tag': 'single_object'}) + '\n')
  geneval = prompt_sets.read('geneval', meta, tmp_path / 'g', prompt_field='prompt')
  _sample(run, geneval, tmp_path / 'g', frames=1, resolution=lambda job: (16, 32), batch=2)
  assert (tmp_path / 'g' / '00000' / 'metadata.jsonl').read_text() == meta.read_text()
  for k in range(4):
    image = np.asarray(Image.open(tmp_path / 'g' / '00000' / 'samples' / f'{k:04d}.png'))
    assert image.shape == (16, 32, 3)
  assert not (tmp_path / 'g' / '.partial').exists()

  images = tmp_path / 'images'
  images.mkdir()
  first = np.zeros((40, 40, 3), np.uint8)
  first[:, :20] = 255
  Image.fromarray(first).save(images / 'half.png')
  info = [{'prompt_en': 'half white', 'image_name': 'half.png', 'caption': 'a white half'}]
  (tmp_path / 'i2v.json').write_text(json.dumps(info))
  i2v = prompt_sets.read(
      'vbench_i2v',
      tmp_path / 'i2v.json',
      tmp_path / 'v',
      image_dir=images,
      prompt_field='caption',
      samples_per_prompt=2,
  )
  _sample(run, i2v, tmp_path / 'v', batch=2)
  for k in range(2):
    video = read_mp4(tmp_path / 'v' / f'half white-{k}.mp4')
    assert video.shape == (2, 16, 16, 3)
    # the given frame (decoded) keeps the image's left/right halves
    assert video[0, :, :6].mean() > video[0, :, 10:].mean() + 60


def test_batch_must_split_over_the_devices(run, tmp_path):
  prompts = tmp_path / 'p.txt'
  prompts.write_text('a\n')
  with pytest.raises(UserError, match='--batch=0'):
    _sample(run, prompt_sets.read('lines', prompts, tmp_path), tmp_path, batch=0)


def test_cli_prompts_file_errors(run, tmp_path):
  """A bad prompt file through the CLI: one error line naming the file and line, exit 2."""
  bad = tmp_path / 'meta.jsonl'
  bad.write_text('{"tag": "x"}\n')
  proc = subprocess.run(
      [
          sys.executable,
          '-m',
          'lumos_jax',
          'sample',
          f'--workdir={run.workdir}',
          f'--prompts={bad}',
          '--layout=geneval',
          f'--out={tmp_path / "out"}',
      ],
      capture_output=True,
      text=True,
      env=driver_testing.subprocess_env(),
      cwd=driver_testing.REPO,
      timeout=300,
  )
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert f"error: {bad}:1: expected a string field 'prompt_rewrite_qwen32b'" in proc.stderr
