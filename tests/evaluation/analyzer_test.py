# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
import numpy as np
import pytest

from lumos_jax.data import synthetic
from lumos_jax.evaluation import analyzer


@pytest.mark.parametrize('size, frames, fps', [(64, 8, 8), (32, 4, 4), (48, 6, 8)])
def test_ground_truth_scores_all_attributes(size, frames, fps):
  examples = synthetic.generate(60, seed=2, split='heldout', frames=frames, size=size, fps=fps)
  result = analyzer.score([e.video for e in examples], [e.attributes for e in examples])
  assert result == {'colour': 1.0, 'shape': 1.0, 'direction': 1.0, 'overall': 1.0}, result


def test_images_read_as_static():
  examples = synthetic.generate(20, seed=3, frames=1, size=64)
  result = analyzer.score([e.video for e in examples], [e.attributes for e in examples])
  assert result['direction'] == 1.0 and result['colour'] == 1.0


def test_random_videos_score_near_chance():
  rng = np.random.default_rng(0)
  examples = synthetic.generate(300, seed=4, frames=4, size=32, fps=4)
  noise = [rng.integers(0, 256, e.video.shape, dtype=np.uint8) for e in examples]
  # patch-token noise: blocks of random palette-like colours, as random codes decode to
  blocks = [
      np.kron(rng.integers(0, 256, (4, 4, 4, 3)), np.ones((1, 8, 8, 1))).astype(np.uint8)
      for _ in examples
  ]
  for videos in (noise, blocks):
    result = analyzer.score(videos, [e.attributes for e in examples])
    assert result['colour'] < 1 / 7 + 0.1, result
    assert result['shape'] < 1 / 3 + 0.15, result
    assert result['direction'] < 1 / 4 + 0.1, result
    assert result['overall'] < 0.05, result


def test_bad_shape_is_reported():
  with pytest.raises(ValueError, match='T, H, W, 3'):
    analyzer.read(np.zeros((4, 4, 3), np.uint8))


def test_shape_is_the_majority_over_frames_and_ties_go_to_the_earliest():
  def clip(shapes):
    frames = [
        synthetic.render(
            synthetic.Attributes(s, 'red', None, None, start=(0.5, 0.5)), frames=1, size=32
        )[0]
        for s in shapes
    ]
    return np.stack(frames)

  assert analyzer.read(clip(['square', 'circle', 'circle'])).shape == 'circle'
  # Ties: the same answer in every process (set order would follow the string hash seed).
  assert analyzer.read(clip(['square', 'circle'])).shape == 'square'
  assert analyzer.read(clip(['circle', 'square'])).shape == 'circle'
  assert analyzer.read(clip(['triangle', 'circle', 'circle', 'triangle'])).shape == 'triangle'
