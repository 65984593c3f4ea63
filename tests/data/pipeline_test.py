# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Pipeline transforms against hand-made expectations; buckets, sharding, checkpoints, errors."""

import json
import shutil

import grain
import jax
import numpy as np
import pytest

from lumos_jax import ardf, errors, layout, testing
from lumos_jax import config as config_lib
from lumos_jax import vocab as vocab_lib
from lumos_jax.data import pipeline, prepare, records
from lumos_jax.vocab import IGNORE

VOCAB = vocab_lib.demo(codebook_size=64)  # the tiny config's vocabulary
_TINY = testing.load_config('tiny')


def _record(num_frames=8, fps=8, hw=(4, 4), caption='a red circle', index=0):
  # Frame t holds code t everywhere, so kept frames can be read back from the tokens.
  codes = np.broadcast_to(np.arange(num_frames)[:, None, None], (num_frames, *hw)).astype(np.int32)
  text = np.asarray([VOCAB.byte_offset + b for b in caption.encode()], np.int32)
  return records.Record(index, f'x/{index}', caption, text, codes, fps, '{}')


def _settings(text_tokenizer=None, **kw):
  """Settings of the tiny data section without CFG dropout, `kw` overriding data keys."""
  config = _TINY.copy_and_resolve_references()
  config.data.update(fps_duration=((4, 1),), length_buckets=(64, 128, 256, 512), cfg_dropout=0.0)
  config.data.update(kw)
  parsed = config_lib.parse(config)
  assert parsed.vocab == VOCAB
  return pipeline.Settings(parsed.data, parsed.vocab, text_tokenizer)


def _kept_frames(item):
  parsed = layout.parse_video(item.tokens, VOCAB)
  return [int(f[0, 0]) for f in parsed.frames], parsed


@pytest.mark.parametrize(
    'num_frames, data_fps, fps, duration, expected',
    [
        (8, 8, 4, 1, [0, 2, 4, 6]),  # interval 2 within the first second
        (8, 8, 8, 1, list(range(8))),
        (8, 8, 2, 1, [0, 4]),
        (16, 8, 4, 2, [0, 2, 4, 6, 8, 10, 12, 14]),
        (16, 8, 2, 1, [0, 4]),  # frames after `duration` seconds are dropped
        (12, 6, 3, 2, [0, 2, 4, 6, 8, 10]),
    ],
)
def test_select_frames_by_hand(num_frames, data_fps, fps, duration, expected):
  np.testing.assert_array_equal(
      pipeline.select_frames(num_frames, data_fps, fps, duration), expected
  )


def test_select_frames_errors():
  with pytest.raises(ValueError, match='does not divide'):
    pipeline.select_frames(8, 8, 3, 1)
  with pytest.raises(ValueError, match='too short for 2 s at 4 fps'):
    pipeline.select_frames(8, 8, 4, 2)


def test_item_keeps_frames_and_rewrites_header():
  item = pipeline.make_item(_record(), 4, 1, np.random.default_rng(0), _settings())
  frames, parsed = _kept_frames(item)
  assert frames == [0, 2, 4, 6]
  assert (parsed.duration, parsed.fps) == (1, 4)
  assert item.tokens[0] == VOCAB.bos
  np.testing.assert_array_equal(parsed.text, _record().text_ids)
  # Labels: IGNORE for [bos] text [sep], tokens from video_start on.
  vs = int(np.flatnonzero(item.tokens == VOCAB.video_start)[0])
  assert vs == 1 + len(_record().text_ids) + 1
  assert (item.labels[:vs] == IGNORE).all()
  np.testing.assert_array_equal(item.labels[vs:], item.tokens[vs:])
  assert item.tokens[-2:].tolist() == [VOCAB.video_end, VOCAB.sep]


def test_given_frames_have_no_loss():
  s = _settings(masking_modes=('video_next_frame',), num_given_frames=2)
  item = pipeline.make_item(_record(), 4, 1, np.random.default_rng(0), s)
  frames, _ = _kept_frames(item)
  assert frames == [0, 2, 4, 6]
  starts = np.flatnonzero(item.tokens == VOCAB.image_start)
  ends = np.flatnonzero(item.tokens == VOCAB.image_end)
  # Everything up to the end of the second frame (prompt, video header, frames 0-1) has no loss.
  assert (item.labels[: ends[1] + 1] == IGNORE).all()
  np.testing.assert_array_equal(item.labels[starts[2] :], item.tokens[starts[2] :])


def test_cfg_text_only_starts_at_video_start():
  s = _settings(cfg_dropout=1.0)
  item = pipeline.make_item(_record(), 4, 1, np.random.default_rng(0), s)
  full = pipeline.make_item(_record(), 4, 1, np.random.default_rng(0), _settings())
  vs = int(np.flatnonzero(full.tokens == VOCAB.video_start)[0])
  assert item.tokens[0] == VOCAB.video_start
  np.testing.assert_array_equal(item.tokens, full.tokens[vs:])
  np.testing.assert_array_equal(item.labels, full.labels[vs:])


def test_cfg_text_and_video_keeps_labelled_tokens_but_last():
  s = _settings(cfg_dropout=1.0, cfg_modes=('text_and_video',))
  item = pipeline.make_item(_record(), 4, 1, np.random.default_rng(0), s)
  full = pipeline.make_item(_record(), 4, 1, np.random.default_rng(0), _settings())
  expected = full.labels[full.labels != IGNORE][:-1]
  np.testing.assert_array_equal(item.tokens, expected)
  np.testing.assert_array_equal(item.labels, expected)
  assert item.tokens[0] == VOCAB.video_start and item.tokens[-1] == VOCAB.video_end


def test_cfg_dropout_rate_is_about_ten_percent():
  s = _settings(cfg_dropout=0.1)
  dropped = [
      pipeline.make_item(_record(), 4, 1, np.random.default_rng([7, i]), s).tokens[0]
      == VOCAB.video_start
      for i in range(2000)
  ]
  assert 0.08 < np.mean(dropped) < 0.12


def test_image_item_is_t2i():
  item = pipeline.make_item(
      _record(num_frames=1, fps=1),
      4,
      1,
      np.random.default_rng(0),
      _settings(masking_modes=('video_next_frame',), num_given_frames=1),
  )
  expected = layout.t2i_item(_record().text_ids, np.zeros((4, 4), np.int32), VOCAB)
  np.testing.assert_array_equal(item.tokens, expected.tokens)
  np.testing.assert_array_equal(item.labels, expected.labels)


def test_prompt_template():
  from lumos_jax.tokenizers import text  # pylint: disable=g-import-not-at-top

  tok = text.ByteTokenizer(VOCAB)
  s = _settings(
      prompt_template='{frames} frames at {fps} fps, {resolution}: {caption}', text_tokenizer=tok
  )
  item = pipeline.make_item(_record(), 4, 1, np.random.default_rng(0), s)
  assert tok.decode(layout.parse_video(item.tokens, VOCAB).text) == (
      '4 frames at 4 fps, 32x32: a red circle'
  )
  with pytest.raises(ValueError, match='max_text_tokens=8'):
    pipeline.make_item(_record(), 4, 1, np.random.default_rng(0), _settings(max_text_tokens=8))


def test_bucket_length():
  assert pipeline.bucket_length(1, (96, 128)) == 96
  assert pipeline.bucket_length(96, (96, 128)) == 96
  assert pipeline.bucket_length(97, (96, 128)) == 128
  with pytest.raises(ValueError, match='exceeds the largest'):
    pipeline.bucket_length(129, (96, 128))


def test_settings_validation():
  # The data section is checked once, by `parse`, naming the key.
  with pytest.raises(errors.ConfigError, match=r'config\.data\.masking_modes'):
    _settings(masking_modes=('nope',))
  with pytest.raises(errors.ConfigError, match=r'config\.data\.num_given_frames=4'):
    _settings(masking_modes=('video_next_frame',), num_given_frames=4)
  with pytest.raises(errors.ConfigError, match=r'config\.data\.length_buckets'):
    _settings(length_buckets=(128, 64))


# -----------------------------------------------------------------------------------------------
# The grain pipeline over prepared tiny data
# -----------------------------------------------------------------------------------------------


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def _iterator(config, sections, **kw):
  """make_iterator of a tiny ConfigDict's sections, as process 0 of 1 unless `kw` says."""
  kw.setdefault('process_index', 0)
  kw.setdefault('process_count', 1)
  return pipeline.make_iterator(*sections(config), **kw)


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


@jax.jit
def _derived_in_jit(tokens, labels):
  """What the train step derives from a batch: positions, spans, padding, maskable positions."""
  return (
      layout.mm_rope_positions(tokens, VOCAB),
      layout.attention_spans(tokens, VOCAB),
      layout.segment_ids(tokens, VOCAB),
      ardf.maskable_positions(labels, VOCAB),
  )


def _assert_layout_agrees(batch):
  """The metadata the step computes in jit from a batch equals the numpy computation, and
  padding changes nothing for the real tokens of a row (the same values as the unpadded row)."""
  tokens, labels = batch['tokens'], batch['labels']
  host = (
      layout.mm_rope_positions(tokens, VOCAB),
      layout.attention_spans(tokens, VOCAB),
      layout.segment_ids(tokens, VOCAB),
      layout.frame_content(labels, VOCAB),
  )
  jax.tree.map(np.testing.assert_array_equal, _derived_in_jit(tokens, labels), host)
  positions, spans, segments, maskable = host
  for j, n in enumerate(segments.sum(-1)):
    row = tokens[j, :n]
    alone = layout.mm_rope_positions(row, VOCAB)
    jax.tree.map(np.testing.assert_array_equal, positions[j, :n], alone)
    np.testing.assert_array_equal(spans[j, :n], layout.attention_spans(row, VOCAB))
    np.testing.assert_array_equal(maskable[j, :n], layout.frame_content(labels[j, :n], VOCAB))
    assert maskable[j, :n].any() and not maskable[j, n:].any()  # loss on frames, never padding


def test_batches_shapes_buckets_and_padding(tiny, sections):
  tiny.data.fps_duration = ((4, 1), (2, 1))
  it = _iterator(tiny, sections)
  lengths = set()
  for batch in _take(it, 12):
    assert batch.keys() == {'tokens', 'labels', 'record_index'}
    tokens, labels = batch['tokens'], batch['labels']
    assert tokens.dtype == labels.dtype == np.int32 and tokens.shape == (8, tokens.shape[1])
    assert batch['record_index'].dtype == np.int32 and batch['record_index'].shape == (8,)
    length = tokens.shape[1]
    lengths.add(length)
    assert length in tiny.data.length_buckets
    # Every row: a valid item then pad / IGNORE.
    for row, lab, seg in zip(tokens, labels, layout.segment_ids(tokens, VOCAB)):
      n = int(seg.sum())
      assert (row[n:] == 0).all() and (lab[n:] == IGNORE).all()
      parsed = layout.parse_video(row[:n], VOCAB)
      assert parsed.complete and len(parsed.frames) == {4: 4, 2: 2}[parsed.fps]
    # Padded to the smallest bucket above the bound of the batch's frame count.
    frames = len(layout.parse_video(tokens[0], VOCAB).frames)
    bound = tiny.data.max_text_tokens + 7 + frames * (4 * 5 + 4)
    assert length == min(b for b in tiny.data.length_buckets if b >= bound)
    _assert_layout_agrees(batch)
  assert lengths == {128, 192}  # 2 and 4 frames


def test_sharding_by_process_is_disjoint_and_covering(tiny, sections):
  tiny.data.batch_size = 8
  meta = prepare.load_meta(*sections(tiny))['splits']['train']
  num_videos = meta['videos'][1]
  seen = []
  for p in range(2):
    it = _iterator(tiny, sections, process_index=p, process_count=2, num_epochs=1)
    ids = np.concatenate([b['record_index'] for b in it])
    assert len(ids) == len(set(ids.tolist()))
    assert all(b == 4 for b in [len(x) for x in np.split(ids, len(ids) // 4)])  # B_local = 4
    seen.append(set(ids.tolist()))
  assert not seen[0] & seen[1]
  assert seen[0] | seen[1] == set(range(num_videos))  # 96 videos = 12 local batches each


def test_same_seed_same_batches_other_seed_differs(tiny, sections):
  a = _take(_iterator(tiny, sections, seed=3), 3)
  b = _take(_iterator(tiny, sections, seed=3), 3)
  c = _take(_iterator(tiny, sections, seed=4), 3)
  _assert_same(a, b)
  assert any(not np.array_equal(x['tokens'], y['tokens']) for x, y in zip(a, c))


@pytest.mark.parametrize('prefetch', [0, 2])
def test_checkpoint_restore_yields_identical_batches(tiny, sections, prefetch):
  tiny.data.prefetch = prefetch
  tiny.data.image_fraction = 0.3
  tiny.data.fps_duration = ((4, 1), (2, 1))
  tiny.data.masking_modes = ('text_to_video', 'video_next_frame')
  tiny.data.cfg_dropout = 0.3
  it = _iterator(tiny, sections)
  _take(it, 15)  # crosses an epoch boundary of the 96 videos
  state = json.loads(json.dumps(it.get_state()))  # what Orbax's grain handler writes
  expected = _take(it, 6)
  fresh = _iterator(tiny, sections)
  fresh.set_state(state)
  _assert_same(_take(fresh, 6), expected)


def test_orbax_checkpoint_of_the_iterator(tiny, sections, tmp_path):
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top

  it = _iterator(tiny, sections)
  _take(it, 3)
  with ocp.CheckpointManager(tmp_path / 'ckpt', item_names=('iter',)) as mngr:
    mngr.save(3, args=ocp.args.Composite(iter=grain.checkpoint.CheckpointSave(it)))
    mngr.wait_until_finished()
  expected = _take(it, 3)
  fresh = _iterator(tiny, sections)
  with ocp.CheckpointManager(tmp_path / 'ckpt', item_names=('iter',)) as mngr:
    mngr.restore(3, args=ocp.args.Composite(iter=grain.checkpoint.CheckpointRestore(fresh)))
  _assert_same(_take(fresh, 3), expected)


def test_joint_image_video_mixing(tiny, sections):
  tiny.data.image_fraction = 0.25
  batches = _take(_iterator(tiny, sections), 40)
  kinds = [len(layout.parse_video(b['tokens'][0], VOCAB).frames) == 1 for b in batches]
  assert sum(kinds) == 10  # grain mixes deterministically by weight
  for b, is_image in zip(batches, kinds):
    assert b['tokens'].shape[1] == (96 if is_image else 192)
    for row in b['tokens']:  # batches are all images or all videos
      assert (len(layout.parse_video(row, VOCAB).frames) == 1) == is_image
  tiny.data.image_fraction = 1.0
  b = next(_iterator(tiny, sections))
  assert b['tokens'].shape == (8, 96)


def test_cfg_and_given_frames_in_batches(tiny, sections):
  tiny.data.cfg_dropout = 1.0
  b = next(_iterator(tiny, sections))
  assert (b['tokens'][:, 0] == VOCAB.video_start).all()
  tiny.data.cfg_dropout = 0.0
  tiny.data.masking_modes = ('video_next_frame',)
  b = next(_iterator(tiny, sections))
  for row, lab in zip(b['tokens'], b['labels']):
    end0 = int(np.flatnonzero(row == VOCAB.image_end)[0])
    assert (lab[: end0 + 1] == IGNORE).all() and (lab[end0 + 1 :] != IGNORE).any()


def test_item_too_long_for_buckets(tiny, sections, caplog):
  tiny.data.length_buckets = (96, 128)  # 4-frame items need up to 167 tokens
  with pytest.raises(records.RecordError, match=r'record \d+ \(item \d+ .*length_buckets'):
    next(_iterator(tiny, sections))
  tiny.data.on_bad_item = 'skip'  # every video is too long: skipping turns into an error
  with pytest.raises(records.RecordError, match='are bad'):
    next(_iterator(tiny, sections))


def test_benchmark_reports_items_per_second(tiny, sections):
  assert pipeline.benchmark(*sections(tiny), 5) > 0


def test_fps_duration_must_fit_the_stored_clips(tiny, sections):
  tiny.data.fps_duration = ((4, 1), (4, 2))  # 2 s at 4 fps needs 8 stored frames, tiny has 4
  with pytest.raises(ValueError, match=r'data.fps_duration entry \(4, 2\) does not fit'):
    _iterator(tiny, sections)
  tiny.data.fps_duration = ((3, 1),)
  with pytest.raises(ValueError, match='fps 3 does not divide'):
    _iterator(tiny, sections)


def test_process_batch_divisibility(tiny, sections):
  tiny.data.batch_size = 6
  with pytest.raises(ValueError, match='not divisible'):
    _iterator(tiny, sections, process_count=4)


def _rows(source):
  for i in range(len(source)):
    r = source[i]
    yield dict(
        id=r.id,
        caption=r.caption,
        text_ids=r.text_ids,
        codes=r.codes.reshape(-1).copy(),
        grid=np.asarray(r.codes.shape, np.int32),
        fps=np.int32(r.fps),
        attributes=r.attributes,
    )


def _with_bad_record(config, sections, tmp_path, bad_index):
  """A copy of the prepared data whose train record `bad_index` has an out-of-range code."""
  data, vocab = sections(config)
  train, heldout = (prepare.record_source(data, vocab, s) for s in ('train', 'heldout'))
  src = prepare.version_dir(data, vocab)
  config.data.dir = str(tmp_path / 'data')  # not part of the version: same version name
  dst = prepare.version_dir(*sections(config))
  assert dst.name == src.name
  shutil.copytree(src, dst, ignore=shutil.ignore_patterns('records'))
  rows = list(_rows(train))
  rows[bad_index]['codes'][3] = 999
  records.write(dst / 'records', {'train': lambda: iter(rows), 'heldout': lambda: _rows(heldout)})
  return config


def test_bad_record_raises_or_is_counted_and_skipped(tiny, sections, tmp_path, caplog):
  config = _with_bad_record(tiny, sections, tmp_path, bad_index=5)
  config.data.shuffle = False
  it = _iterator(config, sections)
  with pytest.raises(
      records.RecordError, match=r'array_record-00000-of-00001: record 5 \(item 5 .*visual code 999'
  ):
    next(it)
  config.data.on_bad_item = 'skip'
  before = pipeline.skip_counts().get('train', 0)
  it = _iterator(config, sections, num_epochs=1)
  with caplog.at_level('WARNING'):
    ids = np.concatenate([b['record_index'] for b in it])
  assert pipeline.skip_counts()['train'] == before + 1
  assert 'skipping bad item' in caplog.text and 'record 5' in caplog.text
  assert 5 not in ids and len(ids) == 88  # 95 good videos -> 11 full batches of 8


def test_select_frames_with_a_temporally_compressing_tokenizer():
  # Cosmos DV4x8x8 (spec 6.1): 12 fps x 2 s = 24 RGB frames -> the first 7 latent frames.
  np.testing.assert_array_equal(pipeline.select_frames(22, 12, 12, 2, 4), np.arange(7))
  np.testing.assert_array_equal(pipeline.select_frames(7, 12, 12, 2, 4), np.arange(7))
  with pytest.raises(ValueError, match='too short for 2 s at 12 fps \\(7 latent frames\\)'):
    pipeline.select_frames(6, 12, 12, 2, 4)
  with pytest.raises(ValueError, match='the clip rate must be the stored 12 fps'):
    pipeline.select_frames(22, 12, 6, 2, 4)
