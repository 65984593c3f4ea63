# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""Every `python -m lumos_jax` command in the fenced code blocks of README.md and docs/ runs.

Commands run in document order (a `sample` after the `train` of the same workdir uses that run),
shrunk: configs get `runlocal=True`, workdirs, data and output paths move under a temporary
directory, `[optional ...]` groups are used with their brackets removed (placeholder values such
as `--config.a.b=value ...` dropped), training runs 2 steps and sampling 1 MaskGIT step of at most
2 latent frames of 64x32 px. `app` is started on a free port, checked to serve its page, and
stopped.
"""

import json
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import safetensors.numpy
from PIL import Image

from lumos_jax import testing

DOCS = [
    'README.md',
    'docs/training.md',
    'docs/data.md',
    'docs/tokenizers.md',
    'docs/official.md',
    'docs/benchmarks.md',
]
FIXTURE = testing.REPO / 'tests' / 'fixtures' / 'cosmos_dv_small.npz'


def commands(doc: str) -> list[list[str]]:
  """The `python -m lumos_jax ...` commands of a markdown file's fenced blocks, as argv lists."""
  text = (testing.REPO / doc).read_text()
  out = []
  for language, block in re.findall(r'^```(\w*)\n(.*?)^```', text, re.S | re.M):
    if language not in ('', 'bash'):
      continue
    block = block.replace('\\\n', ' ')
    for line in block.splitlines():
      line = line.split('  #')[0].strip()
      if line.startswith('python -m lumos_jax '):
        line = re.sub(r'\[--config\.a\.b=value \.\.\.\]', '', line)
        argv = shlex.split(line.replace('[', ' ').replace(']', ' '))
        folded = argv[:4]  # `--flag value` -> `--flag=value`
        for arg in argv[4:]:
          if folded[-1].startswith('--') and '=' not in folded[-1] and not arg.startswith('--'):
            folded[-1] += f'={arg}'
          else:
            folded.append(arg)
        out.append(folded)
  return out


# Prompt files of `sample --prompts --layout=...`: one prompt in each official format.
PROMPT_FILES = {
    'lines': 'a red ball\n',
    'geneval': json.dumps({'tag': 'single_object', 'prompt': 'a', 'prompt_rewrite_qwen32b': 'A.'}),
    'vbench_t2v': json.dumps({'a red ball': 'A red ball rolls on the floor.'}),
    'vbench_i2v': json.dumps(
        [{'prompt_en': 'a ball', 'image_name': 'ball.png', 'prompt_en_qwen32b_vl': 'A ball.'}]
    ),
}


def shrink(argv: list[str], tmp) -> list[str]:
  """The command on a CPU-sized budget, writing only under `tmp`."""
  out, has_data_dir = [], False
  layout = ([a.partition('=')[2] for a in argv if a.startswith('--layout=')] or ['lines'])[0]
  for arg in argv[3:]:
    key, _, value = arg.partition('=')
    if key == '--config':
      value = value + (',' if ':' in value else ':') + 'runlocal=True'
    elif key in ('--workdir', '--out'):
      value = str(tmp / value.strip('/').replace('/', '_'))
    elif key == '--config.data.dir':
      value, has_data_dir = str(tmp / 'data'), True
    elif key == '--config.train.num_steps':
      value = '2'
    elif key == '--src':  # NVIDIA's files: the test fixture's (reduced) weights, same names
      value = str(tmp / 'release.safetensors')
      with np.load(FIXTURE) as f:
        safetensors.numpy.save_file({k[2:]: f[k] for k in f.files if k.startswith('w/')}, value)
    elif key == '--hf_dir':  # a released checkpoint folder: a tiny random one, same formats
      folder = tmp / value.strip('/').replace('/', '_')
      value = str(testing.write_release(folder, testing.release_state_dict()))
    elif key == '--text_tokenizer':
      value = str(testing.write_text_tokenizer(tmp / 'text_tokenizer.json'))
    elif key == '--cosmos_dir':
      value = str(tmp / value.strip('/').replace('/', '_'))  # written by convert-tokenizer before
    elif key == '--image':
      value = str(tmp / 'first_frame.png')
      Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(value)
    elif key == '--prompts':
      value = str(tmp / f'prompts_{layout}')
      (tmp / f'prompts_{layout}').write_text(PROMPT_FILES[layout])
      out.append('--samples_per_prompt=2')
    elif key == '--image_dir':
      value = str(tmp / 'images')
      (tmp / 'images').mkdir(exist_ok=True)
      Image.fromarray(np.full((48, 32, 3), 90, np.uint8)).save(tmp / 'images' / 'ball.png')
    elif key in ('--steps', '--resolution', '--frames'):
      continue  # set below for every sample command
    elif key == '--port':
      with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        value = str(s.getsockname()[1])
    out.append(f'{key}={value}' if value else key)
  command = argv[3]
  if command in ('prepare', 'train') and not has_data_dir:
    out.append(f'--config.data.dir={tmp / "data"}')
  if command == 'train':
    out.append('--config.train.progress_bar=False')
  if command == 'plan':  # runlocal's 4 rows do not divide 8 devices
    out.append('--config.data.batch_size=8')
  if command == 'sample':  # 1 MaskGIT step, at most 2 latent frames of 64x32 px
    frames = [a.partition('=')[2] for a in argv if a.startswith('--frames=')]
    out += [
        '--steps=1',
        '--resolution=64x32',
        f'--frames={1 if layout == "geneval" else min(int(frames[0]), 2) if frames else 2}',
    ]
  return [sys.executable, '-m', 'lumos_jax', *out]


def test_commands_are_found():
  found = {doc: [c[3] for c in commands(doc)] for doc in DOCS}
  assert found['README.md'] == [
      'prepare',
      'train',
      'sample',
      'sample',
      'eval',
      'app',
      'convert-tokenizer',
      'train',
  ], found
  assert found['docs/training.md'].count('train') == 5 and found['docs/data.md'] == ['prepare']
  assert found['docs/tokenizers.md'] == ['convert-tokenizer']
  assert (
      found['docs/official.md']
      == ['convert-tokenizer', 'convert', 'sample', 'sample', 'convert'] + ['sample'] * 3
  )
  assert found['docs/benchmarks.md'] == ['plan', 'plan']


def _serves(command: list[str], timeout_s: float = 300) -> None:
  """Starts a server command (`app`), waits until its page answers, then stops it."""
  port = next(a.partition('=')[2] for a in command if a.startswith('--port='))
  proc = subprocess.Popen(
      command,
      stdout=subprocess.DEVNULL,
      stderr=subprocess.PIPE,
      text=True,
      env=testing.subprocess_env(1),
      cwd=testing.REPO,
  )
  try:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
      assert proc.poll() is None, (' '.join(command), proc.stderr.read()[-4000:])
      try:
        with urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=5) as page:
          assert page.status == 200 and b'gradio' in page.read().lower()
          return
      except OSError:
        time.sleep(1)
    raise AssertionError(f'{" ".join(command)}: no page after {timeout_s} s')
  finally:
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.parametrize('doc', DOCS)
def test_documented_commands_run(doc, tmp_path):
  for argv in commands(doc):
    command = shrink(argv, tmp_path)
    if argv[3] == 'app':
      _serves(command)
      continue
    devices = 8 if any(a.startswith('--config.mesh.') for a in command) else 1
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=600,
        env=testing.subprocess_env(devices),
        cwd=testing.REPO,
    )
    assert proc.returncode == 0, (' '.join(argv), proc.stderr[-4000:])
