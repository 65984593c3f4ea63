# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The app's generation service on a tiny trained run: what it offers, request checks naming the
field, files of the requested shape, per-step progress that leaves the sample unchanged."""

import numpy as np
import pytest
from PIL import Image

from lumos_jax import inference, run_dir
from lumos_jax.app import service as service_lib
from lumos_jax.errors import UserError


@pytest.fixture(scope='module')
def svc(trained_run, tmp_path_factory):
  return service_lib.Service(trained_run, tmp_path_factory.mktemp('service_out'))


def _settings(**overrides) -> service_lib.Settings:
  base = dict(
      mode='text-to-video',
      prompt='a red circle moving left',
      seed=3,
      cfg_scale=3.0,
      steps=2,
      history_mask_ratio=0.7,
      temperature_mode='official',
      frames=2,
      fps=4,
      resolution='32x32',
  )
  return service_lib.Settings(**{**base, **overrides})


def test_offer_follows_the_run(svc, trained_run):
  o = svc.offer
  # configs/tiny.py: 32x32 clips of 1 s at 4 fps, patch tokenizer (one RGB frame per latent).
  assert o.resolutions == ('32x32',) and o.default_resolution == '32x32'
  assert (o.max_frames, o.fps, o.temporal_compression) == (4, (4,), 1)
  assert (o.steps, o.cfg_scale, o.image_cfg_scale) == (4, 3.0, 3.0)
  captions = [r.caption for r in run_dir.heldout(trained_run)]
  assert o.examples == tuple(dict.fromkeys(captions))[: service_lib.MAX_EXAMPLES]
  assert len(o.examples) == service_lib.MAX_EXAMPLES


@pytest.mark.parametrize(
    'overrides, message',
    [
        (dict(prompt='  '), 'prompt: empty'),
        (dict(resolution='64x64'), 'resolution 64x64: this run generates 32x32'),
        (dict(frames=5), 'frames=5: this run generates 2 to 4 latent frames'),
        (dict(frames=1), 'frames=1'),
        (dict(fps=8), 'fps=8: this run was trained at 4 fps'),
        (dict(steps=0), 'MaskGIT steps=0'),
        (dict(history_mask_ratio=0.0), 'history mask ratio=0'),
        (dict(temperature_mode='hot'), "temperature mode 'hot'"),
        (dict(mode='video-to-video'), "mode 'video-to-video'"),
        (dict(mode='image-to-video'), 'image: image-to-video needs a first frame'),
    ],
)
def test_bad_requests_name_the_field(svc, overrides, message):
  with pytest.raises(UserError, match=message.replace('(', r'\(')):
    svc.generate(_settings(**overrides))


def test_bad_images_are_named(svc, tmp_path):
  text = tmp_path / 'notes.png'
  text.write_text('not an image')
  with pytest.raises(UserError, match='image notes.png: cannot read it as an image'):
    svc.check(_settings(mode='image-to-video', image=str(text)))
  thin = tmp_path / 'thin.png'
  Image.fromarray(np.zeros((8, 200, 3), np.uint8)).save(thin)
  with pytest.raises(UserError, match='image thin.png: 200x8 px; expected .* at most 4:1'):
    svc.check(_settings(mode='image-to-video', image=str(thin)))


def test_text_to_video_reports_every_step_and_matches_the_plain_sampler(svc, read_mp4):
  settings = _settings(frames=3, steps=2)
  calls = []
  result = svc.generate(settings, lambda done, total, frame: calls.append((done, total, frame)))
  # 3 frames x 2 MaskGIT steps, in order, each naming its frame.
  assert calls == [(d, 6, (d - 1) // 2) for d in range(1, 7)]
  video = read_mp4(result.path)
  assert video.shape == (3, 32, 32, 3) and result.num_frames == 3
  assert result.path.suffix == '.mp4' and result.settings == settings
  # The reporting program samples exactly what the one without reports does.
  plain, fps = inference.generate_video(
      svc.run,
      settings.prompt,
      frames=3,
      fps=4,
      resolution=(32, 32),
      seed=settings.seed,
      cfg_scale=3.0,
      steps=2,
      history_mask_ratio=0.7,
      temperature_mode='official',
  )
  reported, _ = inference.generate_video(
      svc.run,
      settings.prompt,
      frames=3,
      fps=4,
      resolution=(32, 32),
      seed=settings.seed,
      cfg_scale=3.0,
      steps=2,
      history_mask_ratio=0.7,
      temperature_mode='official',
      report_steps=True,
  )
  np.testing.assert_array_equal(plain, reported)
  assert fps == 4


def test_image_modes(svc, tmp_path, read_mp4):
  first = tmp_path / 'first.png'
  Image.fromarray(np.full((48, 40, 3), (200, 30, 30), np.uint8)).save(first)
  calls = []
  i2v = svc.generate(
      _settings(mode='image-to-video', image=str(first), frames=2),
      lambda *a: calls.append(a),
  )
  assert read_mp4(i2v.path).shape == (2, 32, 32, 3)
  assert calls == [(1, 2, 1), (2, 2, 1)]  # only the generated frame (index 1) is reported
  t2i = svc.generate(_settings(mode='text-to-image', frames=4, fps=8))  # frames/fps ignored
  assert t2i.path.suffix == '.png' and Image.open(t2i.path).size == (32, 32)
  assert t2i.num_frames == 1
  assert 'text-to-image' in t2i.settings.describe() and 'fps' not in t2i.settings.describe()
  assert i2v.path != t2i.path  # every result keeps its own file
