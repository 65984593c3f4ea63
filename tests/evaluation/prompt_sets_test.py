# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Prompt files of the official evaluation formats -> jobs with the evaluators' file layouts."""

import json
import pathlib

import pytest

from lumos_jax.errors import UserError
from lumos_jax.evaluation import prompt_sets

GENEVAL = [
    {'tag': 'single_object', 'include': [{'class': 'bench', 'count': 1}], 'prompt': 'a bench'},
    {'tag': 'two_object', 'prompt': 'a cat and a dog'},
]


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
  path.write_text(text, encoding='utf-8')
  return path


def test_geneval_layout_seeds_and_metadata(tmp_path):
  records = [dict(r, prompt_rewrite_qwen32b=f'long {r["prompt"]}') for r in GENEVAL]
  lines = [json.dumps(r) for r in records]
  path = _write(tmp_path / 'meta.jsonl', '\n'.join(lines) + '\n\n')
  got = prompt_sets.read('geneval', path, tmp_path / 'out', seed=100)
  assert [j.out.relative_to(tmp_path / 'out').as_posix() for j in got.jobs] == [
      f'{p:05d}/samples/{k:04d}.png' for p in range(2) for k in range(4)
  ]
  assert [j.caption for j in got.jobs] == ['long a bench'] * 4 + ['long a cat and a dog'] * 4
  assert [j.seed for j in got.jobs] == list(range(100, 108))
  assert got.files == {
      tmp_path / 'out' / f'{p:05d}' / 'metadata.jsonl': lines[p] + '\n' for p in range(2)
  }
  # the plain GenEval file has only `prompt`: an error says how to choose it
  plain = _write(tmp_path / 'plain.jsonl', '\n'.join(json.dumps(r) for r in GENEVAL))
  with pytest.raises(UserError, match=r"plain.jsonl:1: .*'prompt_rewrite_qwen32b'.*prompt_field"):
    prompt_sets.read('geneval', plain, tmp_path / 'out')
  jobs = prompt_sets.read('geneval', plain, tmp_path / 'out', prompt_field='prompt').jobs
  assert jobs[4].caption == 'a cat and a dog'


def test_vbench_t2v_names_and_samples_per_prompt(tmp_path):
  table = {'a dog running': 'A golden dog runs on grass.', 'rain': 'Rain falls on a city.'}
  path = _write(tmp_path / 'vbench.json', json.dumps(table))
  got = prompt_sets.read('vbench_t2v', path, tmp_path, samples_per_prompt=2, seed=7)
  assert [j.out.name for j in got.jobs] == [
      'a dog running-0.mp4',
      'a dog running-1.mp4',
      'rain-0.mp4',
      'rain-1.mp4',
  ]
  assert [j.seed for j in got.jobs] == [7, 8, 9, 10]
  assert got.jobs[2].caption == 'Rain falls on a city.' and got.files == {}
  assert len(prompt_sets.read('vbench_t2v', path, tmp_path).jobs) == 10  # 5 per prompt


def test_vbench_i2v_reads_images_and_names(tmp_path):
  (tmp_path / 'img').mkdir()
  (tmp_path / 'img' / 'a.jpg').write_bytes(b'x')
  record = {'prompt_en': 'a boat', 'image_name': 'a.jpg', 'prompt_en_qwen32b_vl': 'A boat sails.'}
  path = _write(tmp_path / 'i2v.json', json.dumps([record]))
  got = prompt_sets.read('vbench_i2v', path, tmp_path / 'o', image_dir=tmp_path / 'img')
  assert [j.out.name for j in got.jobs] == [f'a boat-{k}.mp4' for k in range(5)]
  assert all(
      j.image == tmp_path / 'img' / 'a.jpg' and j.caption == 'A boat sails.' for j in got.jobs
  )
  with pytest.raises(UserError, match='needs --image_dir'):
    prompt_sets.read('vbench_i2v', path, tmp_path / 'o')
  missing = _write(tmp_path / 'm.json', json.dumps([dict(record, image_name='b.jpg')]))
  with pytest.raises(UserError, match=r"record 0: image_name 'b.jpg' is not in --image_dir"):
    prompt_sets.read('vbench_i2v', missing, tmp_path / 'o', image_dir=tmp_path / 'img')


def test_lines_layout(tmp_path):
  path = _write(tmp_path / 'p.txt', 'a red ball\n\n  a blue cube  \n')
  got = prompt_sets.read('lines', path, tmp_path / 'o', video=False)
  assert [(j.caption, j.out.name, j.seed) for j in got.jobs] == [
      ('a red ball', '00000-0.png', 0),
      ('a blue cube', '00001-0.png', 1),
  ]
  index = got.files[tmp_path / 'o' / 'prompts.jsonl'].splitlines()
  assert json.loads(index[1]) == {'index': 1, 'prompt': 'a blue cube'}
  assert prompt_sets.read('lines', path, tmp_path / 'o').jobs[0].out.suffix == '.mp4'


@pytest.mark.parametrize(
    'layout, text, message',
    [
        ('vbench_t2v', '{"a": 1}', r'expected a JSON object \{video name: caption\}'),
        ('vbench_t2v', '{"a/b": "x"}', "key 'a/b': 'a/b' cannot be a file name"),
        ('vbench_t2v', '{"' + 'x' * 300 + '": "y"}', 'over 240'),
        ('vbench_t2v', '{not json', 'not valid JSON'),
        ('geneval', '{"prompt": "a"}\n[1]\n', r':2: expected a string field'),
        ('lines', '\n\n', 'no prompts in it'),
    ],
)
def test_bad_prompt_files_name_what_is_wrong(tmp_path, layout, text, message):
  path = _write(tmp_path / 'prompts', text)
  with pytest.raises(UserError, match=message):
    prompt_sets.read(layout, path, tmp_path / 'o', prompt_field='prompt')


def test_bad_arguments(tmp_path):
  path = _write(tmp_path / 'p.txt', 'a\n')
  with pytest.raises(UserError, match='--layout=csv: expected one of'):
    prompt_sets.read('csv', path, tmp_path)
  with pytest.raises(UserError, match='no such file'):
    prompt_sets.read('lines', tmp_path / 'nope.txt', tmp_path)
  with pytest.raises(UserError, match='--samples_per_prompt=0'):
    prompt_sets.read('lines', path, tmp_path, samples_per_prompt=0)
  with pytest.raises(UserError, match='only read by --layout=vbench_i2v'):
    prompt_sets.read('lines', path, tmp_path, image_dir=tmp_path)
