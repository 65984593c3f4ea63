# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""A folder of real media files, end to end from the command line (slow: about 5 CPU minutes).

mp4 clips and png/jpg images of three aspect ratios (rendered by the synthetic generator, written
with imageio) plus a broken file -> `prepare` with a reduced Cosmos DV in two processes of two
devices, one SIGKILLed after its first committed part and restarted -> the records equal a
one-process prepare (12 fps, 25 frames -> 7 latent frames; each item at its official crop size;
the broken file skipped and named) -> fine-tune a converted tiny release on them with the
fine-tuning recipe (configs/lumos1_1b_finetune.py, shrunk) -> its first loss is the release's
on that batch -> sample.
"""

import json
import pathlib
import signal
import subprocess
import sys
import time

import imageio.v2 as iio
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lumos_jax import checkpoint, parallel, testing
from lumos_jax import config as config_lib
from lumos_jax.convert import release
from lumos_jax.data import pipeline, prepare, records
from lumos_jax.data import synthetic
from lumos_jax.train import metrics as metrics_lib
from lumos_jax.train.state import TrainState, abstract_train_state, create_train_state
from lumos_jax.train.step import StepSettings, compile_train_step

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings('ignore:os.fork:RuntimeWarning')]
torch = pytest.importorskip('torch')

CROP_TARGET = 64  # crop list of 2x2 patches of 32 px: 128x32, 64x64, 32x128 (spec 8.2)
# name -> (height, width) of the source, the expected latent grid (Hl, Wl) of its crop, split
VIDEOS = {
    'wide.mp4': ((40, 160), (4, 16), 'train'),
    'square.mp4': ((48, 48), (8, 8), 'train'),
    'tall.mp4': ((160, 40), (16, 4), 'train'),
    'wide2.mp4': ((36, 150), (4, 16), 'train'),
    'held.mp4': ((50, 50), (8, 8), 'heldout'),
}
IMAGES = {'wide.png': ((40, 160), (4, 16)), 'tall.jpg': ((160, 40), (16, 4))}


def _write_folder(root):
  """Media and captions.jsonl; clips of 60 frames at 24 fps (2.5 s), and one broken mp4."""
  (root / 'clips').mkdir(parents=True)
  rows = []
  for i, (name, (hw, _, split)) in enumerate(VIDEOS.items()):
    ex = synthetic.example(i, 0, split, frames=60, size=hw, fps=120)  # slow motion: stays inside
    iio.mimwrite(
        root / 'clips' / name,
        ex.video,
        fps=24,
        format='FFMPEG',
        codec='libx264',
        macro_block_size=1,
        quality=9,
    )
    rows.append({'path': f'clips/{name}', 'caption': ex.caption, 'split': split})
  rows.insert(2, {'path': 'clips/broken.mp4', 'caption': 'a broken file'})
  (root / 'clips' / 'broken.mp4').write_bytes(b'not a video')
  for i, (name, (hw, _)) in enumerate(IMAGES.items()):
    iio.imwrite(root / name, synthetic.example(i, 1, frames=1, size=hw, fps=1).video[0])
    rows.append({'path': name, 'caption': f'a still picture number {i}'})
  (root / 'captions.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
  return root


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
  root = tmp_path_factory.mktemp('user_folder')
  cosmos = testing.write_cosmos_dir(root / 'cosmos')
  text = testing.write_text_tokenizer(root / 'text_tokenizer.json')
  hf = testing.write_release(root / 'hf', testing.release_state_dict())
  return dict(
      root=root,
      media=_write_folder(root / 'media'),
      run=release.convert(hf, text, cosmos, root / 'release_run'),
      cosmos=cosmos,
      text=text,
  )


def _config_args(assets, data_dir):
  """The fine-tuning recipe from the converted run, shrunk to this folder and a CPU."""
  overrides = {
      'data.dir': data_dir,
      'data.user.root': assets['media'],
      'data.user.crop_target': CROP_TARGET,
      'data.tokenizer.path': assets['cosmos'],
      'data.tokenizer.dtype': 'float32',
      'data.text_tokenizer': assets['text'],
      'data.on_bad_item': 'skip',
      'data.commit_every': 1,
      'data.max_text_tokens': 64,
      'data.batch_size': 2,
      'data.read_threads': 1,
      'data.length_buckets': '(1024,)',
      'model.dtype': 'float32',  # the recipe computes in bf16: float32 to compare losses closely
      'train.num_steps': 2,
      'train.log_every': 1,
      'train.eval_every': 0,
      'train.progress_bar': False,
      'checkpoint.every_steps': 2,
      'checkpoint.async_save': False,
  }
  config = f'--config={testing.REPO}/configs/lumos1_1b_finetune.py:init_from={assets["run"]}'
  return [config, *testing.cli_overrides(**overrides)]


def _cli(*args, wait=True):
  proc = subprocess.Popen(
      [sys.executable, '-m', 'lumos_jax', *map(str, args)],
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
      env=testing.subprocess_env(2),
      cwd=testing.REPO,
  )
  if not wait:
    return proc
  out, err = proc.communicate(timeout=900)
  assert proc.returncode == 0, (args[:1], err[-4000:])
  return out, err


def _records(version):
  checks = records.Checks(codebook_size=64000)
  out = {}
  for split in ('train', 'heldout'):
    source = records.RecordSource(records.builder_dir(version / 'records'), split, checks)
    out[split] = [source[i] for i in range(len(source))]
  return out


def _prepare_in_two_processes_with_a_kill(assets, data_dir):
  args = ['prepare', *_config_args(assets, data_dir), '--num_processes=2']
  first = _cli(*args, '--process_id=0', wait=False)
  second = _cli(*args, '--process_id=1', wait=False)
  deadline = time.time() + 600
  while not list(data_dir.glob('.*.partial/parts/1-of-2-*.json')):
    assert second.poll() is None and time.time() < deadline, second.communicate()[1][-4000:]
    time.sleep(0.05)
  second.send_signal(signal.SIGKILL)
  second.wait()
  committed = len(list(data_dir.glob('.*.partial/parts/1-of-2-*.json')))
  out, err = first.communicate(timeout=900)
  assert first.returncode == 0, err[-4000:]
  assert 'share 0-of-2 done; the last share to finish writes the records' in out
  out, err = _cli(*args, '--process_id=1')  # restarted: skips its committed items, then merges
  share = 4  # items 1, 3, 5, 7 of the 8 (9 listed lines, the broken file one of them)
  assert f'share 1-of-2, {share} items ({committed} done before)' in err
  assert f'share 1-of-2: {share - committed} items encoded' in err
  assert 1 <= committed < share
  return out.strip().splitlines()[-1].removeprefix('data ready in ')


def test_media_folder_to_a_fine_tuned_model(assets, tmp_path):
  two = pathlib.Path(_prepare_in_two_processes_with_a_kill(assets, tmp_path / 'two'))
  out, _ = _cli('prepare', *_config_args(assets, tmp_path / 'one'))
  one = pathlib.Path(out.strip().splitlines()[-1].removeprefix('data ready in '))
  assert one.name == two.name  # the version does not depend on processes or restarts

  got, want = _records(two), _records(one)
  for split in ('train', 'heldout'):
    assert [r.id for r in got[split]] == [r.id for r in want[split]]
    for a, b in zip(got[split], want[split]):
      np.testing.assert_array_equal(a.codes, b.codes)
      np.testing.assert_array_equal(a.text_ids, b.text_ids)
  train_videos = [f'clips/{n}' for n, (_, _, s) in VIDEOS.items() if s == 'train']
  assert [r.id for r in got['train']] == train_videos + list(IMAGES)
  assert [r.id for r in got['heldout']] == ['clips/held.mp4']
  grids = {
      **{f'clips/{n}': g for n, (_, g, _) in VIDEOS.items()},
      **{n: g for n, (_, g) in IMAGES.items()},
  }
  for r in got['train'] + got['heldout']:
    frames = 1 if r.id in IMAGES else 7  # 25 frames at 12 fps -> 7 Cosmos latent frames
    assert r.codes.shape == (frames, *grids[r.id]), r.id
    assert r.fps == (1 if r.id in IMAGES else 12)
  meta = json.loads((two / 'meta.json').read_text())
  assert len(meta['skipped']) == 1
  assert 'captions.jsonl:3 (clips/broken.mp4): cannot decode video' in meta['skipped'][0]
  assert '\n' not in meta['skipped'][0]  # one line, without ffmpeg's log

  workdir = tmp_path / 'finetuned'
  out, err = _cli('train', *_config_args(assets, tmp_path / 'two'), f'--workdir={workdir}')
  assert 'done at step 2' in out and 'train.init_from' in err
  first = metrics_lib.read_metrics(workdir)[0]
  assert first['step'] == 1

  # The converted release's loss on the same first batch, computed here without init_from.
  config = config_lib.parse(json.loads((workdir / 'config.json').read_text()))
  assert prepare.version_dir(config.data, config.vocab) == two
  settings = StepSettings.create(config)
  mesh = parallel.make_mesh((1, 1, 1), jax.devices()[:1])
  abstract, shardings = abstract_train_state(settings.model, settings.tx, config.seed, mesh)
  params, _ = checkpoint.restore_params(assets['run'] / 'checkpoints', abstract.params)
  opt_state = jax.jit(settings.tx.init, out_shardings=shardings.opt_state)(params)
  state = TrainState(jnp.zeros((), jnp.int32), params, opt_state, jax.random.PRNGKey(config.seed))
  _, fresh, _ = create_train_state(settings.model, settings.tx, seed=config.seed, mesh=mesh)
  iterator = pipeline.make_iterator(
      config.data, config.vocab, seed=config.seed, process_index=0, process_count=1
  )
  batch = next(iterator)
  iterator.close()
  sharding = parallel.batch_sharding(mesh)
  batch = {k: jax.device_put(jnp.asarray(batch[k]), sharding) for k in ('tokens', 'labels')}
  step = compile_train_step(settings, mesh, shardings)
  release_loss, random_loss = (float(step(s, batch)[1]['loss']) for s in (state, fresh))
  assert first['loss'] == pytest.approx(release_loss, rel=1e-4)  # 2 devices there, 1 here
  assert abs(random_loss - release_loss) > 100 * 1e-4 * release_loss  # not a random model's

  _cli(
      'sample',
      f'--workdir={workdir}',
      '--prompt=a red ball rolls left',
      '--steps=1',
      '--frames=2',
      '--resolution=128x32',
      f'--out={tmp_path / "sample"}',
  )
  assert iio.mimread(tmp_path / 'sample.mp4', format='FFMPEG')
