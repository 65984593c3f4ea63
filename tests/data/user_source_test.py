# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""User source: a folder of mp4/png files plus captions.jsonl / .csv, and its bad inputs."""

import json
import os
import re

import imageio.v2 as iio
import numpy as np
import pytest

from lumos_jax.data import pipeline, prepare, user_source
from lumos_jax.data.user_source import SourceError

# imageio starts ffmpeg with subprocess (fork + exec), which JAX warns about; exec follows at once.
pytestmark = pytest.mark.filterwarnings('ignore:os.fork:RuntimeWarning')


def _clip(frames, height, width, seed):
  """A square moving right on a plain background: compresses well, decodes close to the input."""
  rng = np.random.default_rng(seed)
  background = rng.integers(0, 120, 3)
  colour = rng.integers(150, 255, 3)
  video = np.empty((frames, height, width, 3), np.uint8)
  video[:] = background
  for t in range(frames):
    x = 2 + t
    video[t, height // 3 : height // 3 + 8, x : x + 8] = colour
  return video


def _folder(tmp_path, captions='captions.jsonl', rows=None):
  root = tmp_path / 'media'
  (root / 'clips').mkdir(parents=True, exist_ok=True)
  clips = {
      'a.mp4': (10, 32, 32, 8),
      'b.mp4': (16, 48, 64, 16),
      'c.mp4': (9, 32, 32, 4),
      'd.mp4': (3, 32, 32, 4),
  }
  for name, (frames, h, w, fps) in clips.items():
    iio.mimwrite(
        root / 'clips' / name,
        _clip(frames, h, w, len(name) + frames),
        fps=fps,
        format='FFMPEG',
        codec='libx264',
        macro_block_size=1,
        quality=9,
    )
  iio.imwrite(root / 'still.png', _clip(1, 40, 40, 3)[0])
  if rows is None:
    rows = [
        {'path': 'clips/a.mp4', 'caption': 'a square moving right'},
        {'path': 'clips/b.mp4', 'text': 'a wide clip', 'split': 'train'},
        {'path': 'still.png', 'caption': 'a still square'},
        {'path': 'clips/c.mp4', 'caption': 'held out clip', 'split': 'heldout'},
    ]
  path = root / captions
  if captions.endswith('.jsonl'):
    path.write_text('\n'.join(r if isinstance(r, str) else json.dumps(r) for r in rows) + '\n')
  else:
    path.write_text(rows if isinstance(rows, str) else '')
  return root


def _config(make_tiny, tmp_path, root, captions='captions.jsonl'):
  config = make_tiny(tmp_path / 'data')
  config.data.source = 'user'
  config.data.user.root = str(root)
  config.data.user.captions = captions
  config.data.tokenizer.fit_items = 8
  return config


def test_frame_indices_by_hand():
  # 10 frames at 8 fps -> 4 frames at 4 fps: step 2, centred start 5 - 4 = 1 -> aligned to 2.
  np.testing.assert_array_equal(user_source.frame_indices(10, 8, 4, 4, 'x'), [2, 4, 6, 8])
  # 30 fps -> 8 fps truncates the step to 3 (spec 8.1); window centred in 100 frames.
  np.testing.assert_array_equal(user_source.frame_indices(100, 30, 8, 4, 'x'), [45, 48, 51, 54])
  with pytest.raises(SourceError, match='x: video has 6 frames at 8 fps; 4 frames at 4 fps need 7'):
    user_source.frame_indices(6, 8, 4, 4, 'x')
  with pytest.raises(SourceError, match='less than data.fps=8'):
    user_source.frame_indices(20, 4, 8, 4, 'x')


def test_fit_frame_crops_centre_and_resizes():
  frame = np.zeros((48, 64, 3), np.uint8)
  frame[:, 8:56] = 200  # the centre 48x48 square
  out = user_source.fit_frame(frame, 32)
  assert out.shape == (32, 32, 3) and out.dtype == np.uint8
  assert out.min() >= 190  # the black side bands were cropped away
  gray = user_source.fit_frame(np.full((32, 32), 7, np.uint8), (16, 32))
  assert gray.shape == (16, 32, 3) and (gray == 7).all()


@pytest.mark.parametrize('kind', ['jsonl', 'csv'])
def test_prepare_user_folder(tmp_path, make_tiny, sections, kind):
  if kind == 'jsonl':
    root = _folder(tmp_path)
    captions = 'captions.jsonl'
  else:
    root = _folder(
        tmp_path,
        'captions.csv',
        'path,caption,split\n'
        'clips/a.mp4,a square moving right,train\n'
        'clips/b.mp4,"a wide clip, cropped",\n'
        'still.png,a still square,train\n'
        'clips/c.mp4,held out clip,heldout\n',
    )
    captions = 'captions.csv'
  data, vocab = sections(_config(make_tiny, tmp_path, root, captions))
  out = prepare.prepare(data, vocab)
  meta = prepare.load_meta(data, vocab)
  assert meta['splits']['train'] == {'num_items': 3, 'videos': [0, 2], 'images': [2, 3]}
  assert meta['splits']['heldout']['num_items'] == 1 and meta['skipped'] == []
  train = prepare.read_items(data, vocab, 'train')
  assert [r.id for r in train] == ['clips/a.mp4', 'clips/b.mp4', 'still.png']
  assert train[1].caption == ('a wide clip, cropped' if kind == 'csv' else 'a wide clip')
  assert [r.codes.shape for r in train] == [(4, 4, 4), (4, 4, 4), (1, 4, 4)]
  assert [r.fps for r in train] == [4, 4, 1]
  # The codes decode back to something close to the (cropped, resized) frames.
  vq = prepare.load_tokenizer(data, vocab)
  video, _ = user_source.load(user_source.entries(root, captions)[0][0], frames=4, fps=4, size=32)
  np.testing.assert_array_equal(train[0].codes, vq.encode(video))
  assert prepare.prepare(data, vocab) == out  # idempotent
  batch = next(pipeline.make_iterator(data, vocab, process_index=0, process_count=1))
  assert batch['tokens'].shape[0] == 8


def test_changed_file_makes_a_new_version(tmp_path, make_tiny, sections):
  root = _folder(tmp_path)
  config = _config(make_tiny, tmp_path, root)
  before = prepare.version_dir(*sections(config))
  iio.imwrite(root / 'still.png', _clip(1, 40, 40, 99)[0])
  os.utime(root / 'still.png', (1, 1))
  assert prepare.version_dir(*sections(config)) != before


@pytest.mark.parametrize(
    'row, pattern',
    [
        (
            {'path': 'clips/missing.mp4', 'caption': 'x'},
            r'captions.jsonl:2: file .*clips/missing.mp4 not found',
        ),
        (
            {'path': 'clips/a.mp4', 'caption': 17},
            r'captions.jsonl:2: caption of clips/a.mp4 must be non-empty text, got int 17',
        ),
        ({'path': 'clips/a.mp4', 'caption': None}, r'captions.jsonl:2: caption .* got NoneType'),
        ({'path': 'clips/a.mp4', 'caption': ['a', 'b']}, r'captions.jsonl:2: caption .* got list'),
        ({'path': 'clips/a.mp4', 'caption': '  '}, r'captions.jsonl:2: caption .* non-empty'),
        ('{"path": "clips/a.mp4", ', r'captions.jsonl:2: not a JSON object'),
        ({'path': 'notes.txt', 'caption': 'x'}, r'captions.jsonl:2: notes.txt has an unsupported'),
        ({'path': 'clips/a.mp4', 'caption': 'x', 'split': 'test'}, r"split 'test'"),
        ({'caption': 'x'}, r'captions.jsonl:2: "path" must be a non-empty string'),
    ],
)
def test_bad_captions_entry_is_named(tmp_path, make_tiny, sections, row, pattern):
  rows = [{'path': 'clips/a.mp4', 'caption': 'fine'}, row]
  root = _folder(tmp_path, rows=rows)
  (root / 'notes.txt').write_text('hi')
  config = _config(make_tiny, tmp_path, root)
  with pytest.raises(SourceError, match=pattern):
    prepare.prepare(*sections(config))


def test_bad_media_is_named(tmp_path, make_tiny, sections):
  root = _folder(
      tmp_path,
      rows=[
          {'path': 'clips/a.mp4', 'caption': 'fine'},
          {'path': 'clips/broken.mp4', 'caption': 'broken'},
          {'path': 'clips/d.mp4', 'caption': 'too short'},
      ],
  )
  (root / 'clips' / 'broken.mp4').write_bytes(b'not a video')
  config = _config(make_tiny, tmp_path, root)
  with pytest.raises(SourceError, match=r'captions.jsonl:2 \(clips/broken.mp4\): cannot decode'):
    prepare.prepare(*sections(config))
  # Skipping: counted, logged, recorded in meta.json; the good item is written.
  config.data.on_bad_item = 'skip'
  prepare.prepare(*sections(config))
  meta = prepare.load_meta(*sections(config))
  assert meta['splits']['train']['num_items'] == 1
  assert len(meta['skipped']) == 2
  assert re.search(r'clips/broken.mp4.*cannot decode', meta['skipped'][0])
  assert re.search(
      r'clips/d.mp4.*video has 3 frames at 4 fps; 4 frames at 4 fps need 4', meta['skipped'][1]
  )


def test_captions_file_problems(tmp_path, make_tiny, sections):
  root = _folder(tmp_path)
  config = _config(make_tiny, tmp_path, root, 'nope.jsonl')
  with pytest.raises(SourceError, match='captions file .*nope.jsonl not found'):
    prepare.prepare(*sections(config))
  (root / 'bad.csv').write_text('file,words\nclips/a.mp4,x\n')
  config.data.user.captions = 'bad.csv'
  with pytest.raises(SourceError, match=r'bad.csv: CSV header .* needs a "path"'):
    prepare.prepare(*sections(config))
  (root / 'latin.jsonl').write_bytes(b'{"path": "still.png", "caption": "caf\xe9"}\n')
  config.data.user.captions = 'latin.jsonl'
  with pytest.raises(SourceError, match='latin.jsonl: not UTF-8 text'):
    prepare.prepare(*sections(config))
