# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`python -m lumos_jax <command> --config=configs/X.py [--config.a.b=value ...] [--workdir=DIR]`.

Commands:
  prepare   build the data set of `config.data` (synthetic clips or a user folder) into data.dir
  train     train in WORKDIR, resuming from its latest complete checkpoint (docs/training.md)
  sample    generate a clip for --prompt (optionally from --image) with the model in WORKDIR
  eval      prompt adherence of the model in WORKDIR on the held-out synthetic prompts
  app       a web app (Gradio) generating with the model in WORKDIR (--host, --port; README)
  convert   a released Lumos-1 checkpoint (HF folder) -> a run directory for sample/eval
  convert-tokenizer  NVIDIA's Cosmos DV4x8x8 files -> a torch-free directory (docs/tokenizers.md)
  bench     benchmarks (own flags, see --help): results in bench/results, docs/benchmarks.md
  plan      per-device memory and FLOPs of the config's train step and sampler, compiled ahead
            of time without allocating the model (--devices=N: N simulated CPU devices)

Config leaves are overridden with `--config.train.num_steps=100`, `--config.mesh.shape="(2,2,2)"`;
the config is locked and parsed into typed sections (lumos_jax/config), so a misspelt key or a
wrong type is an error naming the key. `sample` and `eval` read everything from the run directory
(its own config, vocabulary, tokenizers and held-out prompts), never from the data folder.
A user error (config, files, data records, flag values) prints one line and exits with status 2;
`--debug` shows the traceback. Multi-process runs: see launch/README.md. This file only parses
flags and dispatches; the work is in lumos_jax.train.loop, lumos_jax.data.prepare and
lumos_jax.inference.
"""

from __future__ import annotations

import json
import logging as py_logging
import pathlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from lumos_jax import errors
from lumos_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    None,
    'ml_collections config file (configs/*.py); override single leaves with --config.a.b=value',
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string(
    'workdir',
    None,
    'train: run directory (checkpoints/, metrics.jsonl, tensorboard/, '
    'config.json); an existing one is resumed',
)
_FORCE = flags.DEFINE_bool('force', False, 'prepare: rebuild the data even if already prepared')
_DISTRIBUTED = flags.DEFINE_enum(
    'distributed',
    'auto',
    ['auto', 'on', 'off'],
    'multi-process initialisation: auto (explicit flags, or an srun step with several tasks, or '
    'a multi-worker TPU slice), on (jax.distributed auto-detection, must succeed), off',
)
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0, for an explicit multi-process run'
)
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'processes in the run (explicit); prepare: number of shares'
)
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, 'index of this process (explicit); prepare: its share'
)
_LOCAL_DEVICE_IDS = flags.DEFINE_list(
    'local_device_ids',
    None,
    'devices this process uses (default: all it sees, or one per task under SLURM)',
)
_PROMPT = flags.DEFINE_string('prompt', None, 'sample: the caption')
_IMAGE = flags.DEFINE_string('image', None, 'sample: first frame (image-to-video), any image file')
_FRAMES = flags.DEFINE_integer(
    'frames', None, 'sample/plan: latent frames (default: training clips)'
)
_FPS = flags.DEFINE_integer('fps', None, 'sample: fps in the video header (default: training)')
_RESOLUTION = flags.DEFINE_string(
    'resolution', None, 'sample/plan: WxH in pixels (default: training)'
)
_CFG = flags.DEFINE_float('cfg', None, 'sample/eval: guidance scale (default: config.sample)')
_STEPS = flags.DEFINE_integer('steps', None, 'sample/eval: MaskGIT steps per frame')
_SEED = flags.DEFINE_integer('seed', None, 'sample/eval: sampling seed')
_OUT = flags.DEFINE_string(
    'out',
    None,
    'sample: output path (.mp4/.gif/.png written); eval: output folder (default WORKDIR/eval)',
)
_NUM_PROMPTS = flags.DEFINE_integer('num_prompts', None, 'eval: held-out prompts to use')
_PROMPTS = flags.DEFINE_string(
    'prompts', None, 'sample: a prompt file (see --layout) sampled into the folder --out'
)
_LAYOUT = flags.DEFINE_enum(
    'layout',
    'lines',
    ['lines', 'geneval', 'vbench_t2v', 'vbench_i2v'],
    'sample --prompts: file format and output layout (lumos_jax/evaluation/prompt_sets.py)',
)
_SAMPLES_PER_PROMPT = flags.DEFINE_integer(
    'samples_per_prompt', None, 'sample --prompts: default 1 (lines), 4 (geneval), 5 (vbench)'
)
_PROMPT_FIELD = flags.DEFINE_string(
    'prompt_field', None, 'sample --prompts: caption field of geneval/vbench_i2v records'
)
_IMAGE_DIR = flags.DEFINE_string('image_dir', None, 'sample --layout=vbench_i2v: the images')
_BATCH = flags.DEFINE_integer(
    'batch', None, 'sample --prompts: samples per forward pass (default: one per local device)'
)
_PART = flags.DEFINE_string(
    'part', '0/1', 'sample --prompts: i/n, make the 0-based part i of n of the samples'
)
_ALL_LOGS = flags.DEFINE_bool('all_logs', False, 'also show INFO logs of jax/orbax/grain')
_DEBUG = flags.DEFINE_bool('debug', False, 'show the traceback of user errors too')
_DEVICES = flags.DEFINE_integer(
    'devices', None, "plan: compile for N simulated CPU devices (default: this machine's devices)"
)
_HOST = flags.DEFINE_string('host', '127.0.0.1', 'app: address to serve on (0.0.0.0: all)')
_PORT = flags.DEFINE_integer('port', 7860, 'app: port to serve on')


def _parse(config):
  from lumos_jax import config as config_lib  # pylint: disable=g-import-not-at-top

  return config_lib.parse(config)


def _prepare(config) -> int:
  from lumos_jax.data import prepare, pretokenize  # pylint: disable=g-import-not-at-top

  config = _parse(config)
  # Each process encodes its share alone (no jax.distributed): --process_id/--num_processes, an
  # srun task or a TPU worker; the last to finish writes the records (lumos_jax/data/prepare.py).
  share = pretokenize.share_from_env(_PROCESS_ID.value, _NUM_PROCESSES.value)
  path = prepare.prepare(config.data, config.vocab, force=_FORCE.value, share=share)
  if (path / 'meta.json').is_file():
    print(f'data ready in {path}')
  else:
    print(f'share {share} done; the last share to finish writes the records into {path}')
  return 0


def _initialize_distributed() -> None:
  """jax.distributed from the multi-process flags (or the cluster's environment), if any."""
  from lumos_jax import parallel  # pylint: disable=g-import-not-at-top

  ids = _LOCAL_DEVICE_IDS.value
  parallel.initialize_distributed(
      _DISTRIBUTED.value,
      _COORDINATOR.value,
      _NUM_PROCESSES.value,
      _PROCESS_ID.value,
      None if ids is None else [int(i) for i in ids],
  )


def _train(config) -> int:

  if not _WORKDIR.value:
    raise app.UsageError('train needs --workdir=DIR')
  config = _parse(config)
  _initialize_distributed()
  from lumos_jax.train import loop  # pylint: disable=g-import-not-at-top

  try:
    result = loop.run(config, _WORKDIR.value)
  except loop.NonFiniteLossError as e:
    logging.error('%s', e)
    return 3
  print(f'{result.stopped} at step {result.step} ({_WORKDIR.value})')
  return 0


def _load_run(config):
  from lumos_jax import inference  # pylint: disable=g-import-not-at-top

  if not _WORKDIR.value:
    raise app.UsageError('this command needs --workdir=DIR (a training run directory)')
  if config is not None:
    raise app.UsageError(
        "sample and eval use the run's own config (WORKDIR/config.json); "
        'drop --config and use --cfg, --steps, --seed, ... to change sampling'
    )
  return inference, inference.load_run(_WORKDIR.value)


def _sample(config) -> int:
  import tqdm  # pylint: disable=g-import-not-at-top

  from lumos_jax import layout  # pylint: disable=g-import-not-at-top

  if bool(_PROMPT.value) == bool(_PROMPTS.value):
    raise app.UsageError('sample needs --prompt="..." or --prompts=FILE (one of them)')
  if _PROMPTS.value:
    return _sample_prompts(config)
  inference, run = _load_run(config)
  data = run.config.data
  fps, duration = data.fps_duration[0]
  if _FRAMES.value is None:  # the first training choice, in latent frames
    frames = layout.latent_frames(fps * duration, run.vocab.rope_strides[0])
  else:
    frames = _FRAMES.value
  if _RESOLUTION.value:
    height, width = _resolution()
  elif _IMAGE.value:  # the official crop size that best fits the image (official runs)
    height, width = inference.image_resolution(run, inference.open_image(_IMAGE.value))
  else:
    height, width = data.height_width
  out = _OUT.value or str(pathlib.Path(_WORKDIR.value) / 'samples' / 'sample')
  total = max(0, frames - (1 if _IMAGE.value else 0))
  with tqdm.tqdm(total=total, desc='frames', unit='frame') as bar:
    paths = inference.sample_to_files(
        run,
        _PROMPT.value,
        out,
        frames=frames,
        fps=_FPS.value or fps,
        resolution=(height, width),
        image=_IMAGE.value,
        seed=_SEED.value or 0,
        progress=lambda _: bar.update(1),
        cfg_scale=_CFG.value,
        steps=_STEPS.value,
    )
  print('\n'.join(str(p) for p in paths))
  return 0


def _sample_prompts(config) -> int:
  """sample --prompts=FILE: every sample of the file into --out, in --layout."""
  import tqdm  # pylint: disable=g-import-not-at-top

  from lumos_jax import batch_sampling, official  # pylint: disable=g-import-not-at-top
  from lumos_jax import layout  # pylint: disable=g-import-not-at-top
  from lumos_jax import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
  from lumos_jax.evaluation import prompt_sets  # pylint: disable=g-import-not-at-top

  if not _OUT.value:
    raise app.UsageError('sample --prompts needs --out=DIR')
  if _IMAGE.value:
    raise app.UsageError('--image is for one --prompt; I2V prompt files use --layout=vbench_i2v')
  part = batch_sampling.parse_part(_PART.value)
  _initialize_distributed()
  inference, run = _load_run(config)
  data = run.config.data
  fps, duration = data.fps_duration[0]
  image_only = _LAYOUT.value in prompt_sets.IMAGE_ONLY
  if image_only:
    if _FRAMES.value not in (None, 1):
      raise UserError(f'--layout={_LAYOUT.value} makes images: --frames must be 1')
    frames = 1
  elif _FRAMES.value is None:  # the first training choice, in latent frames
    frames = layout.latent_frames(fps * duration, run.vocab.rope_strides[0])
  else:
    frames = _FRAMES.value
  prompt_set = prompt_sets.read(
      _LAYOUT.value,
      _PROMPTS.value,
      _OUT.value,
      samples_per_prompt=_SAMPLES_PER_PROMPT.value,
      prompt_field=_PROMPT_FIELD.value,
      image_dir=_IMAGE_DIR.value,
      video=frames > 1,
      seed=_SEED.value or 0,
  )
  size = _resolution()
  if size is None and image_only and run.vocab == vocab_lib.lumos1():
    size = official.T2I_SIZE[::-1]  # the official GenEval images (spec 7.1)
  size = size or data.height_width

  def resolution(job: prompt_sets.Job) -> tuple[int, int]:
    if job.image is None or _RESOLUTION.value:
      return size
    return inference.image_resolution(run, inference.open_image(str(job.image)))

  mesh = batch_sampling.local_mesh()
  devices = 1 if mesh is None else mesh.size
  with tqdm.tqdm(desc=f'samples (part {_PART.value})', unit='sample') as bar:
    summary = batch_sampling.sample_prompt_set(
        run,
        prompt_set,
        _OUT.value,
        frames=frames,
        fps=_FPS.value or fps,
        resolution=resolution,
        batch=_BATCH.value or devices,
        part=part,
        mesh=mesh,
        progress=bar.update,
        cfg_scale=_CFG.value,
        steps=_STEPS.value,
    )
  print(
      f'{summary.written} samples written, {summary.skipped} already there, of this '
      f"process's {summary.share} (part {_PART.value}, {len(prompt_set.jobs)} in the file) "
      f'in {_OUT.value}'
  )
  return 0


def _resolution() -> tuple[int, int] | None:
  """(height, width) of --resolution=WxH, or None when not given."""
  if not _RESOLUTION.value:
    return None
  try:
    width, height = (int(x) for x in _RESOLUTION.value.lower().split('x'))
  except ValueError:
    raise UserError(f'--resolution={_RESOLUTION.value!r}: expected WxH, e.g. 64x64') from None
  return height, width


def _plan(config) -> int:
  from lumos_jax import plan  # pylint: disable=g-import-not-at-top

  if _DEVICES.value is not None:
    plan.use_cpu_devices(_DEVICES.value)  # before anything starts a jax backend
  config = _parse(config)
  result = plan.make_plan(config, frames=_FRAMES.value, resolution=_resolution())
  print(plan.format_plan(result, config.model))
  return 0


def _eval(config) -> int:
  import tqdm  # pylint: disable=g-import-not-at-top
  from lumos_jax.evaluation import adherence  # pylint: disable=g-import-not-at-top

  inference, run = _load_run(config)
  out = _OUT.value or str(pathlib.Path(_WORKDIR.value) / 'eval')
  with tqdm.tqdm(desc='held-out prompts', unit='prompt') as bar:
    scores = inference.evaluate_run(
        run,
        out,
        num_prompts=_NUM_PROMPTS.value,
        seed=_SEED.value,
        progress=bar.update,
        cfg_scale=_CFG.value,
        steps=_STEPS.value,
    )
  print(f'prompt adherence of {_WORKDIR.value} (step {run.step}), samples in {out}:')
  print(adherence.format_table(scores))
  probe = inference.probe_run(run, num_clips=_NUM_PROMPTS.value)
  (pathlib.Path(out) / 'history_probe.json').write_text(
      json.dumps(probe.as_dict(), indent=2) + '\n'
  )
  print(
      'history probe (cross-entropy of held-out frames, nats per code; see '
      'lumos_jax/evaluation/history_probe.py):'
  )
  print(probe.format_table())
  return 0


def _app(config) -> int:
  if not _WORKDIR.value:
    raise app.UsageError('app needs --workdir=DIR (a training or converted run directory)')
  if config is not None:
    raise app.UsageError("app uses the run's own config (WORKDIR/config.json); drop --config")
  from lumos_jax.app import ui  # pylint: disable=g-import-not-at-top

  ui.launch(_WORKDIR.value, host=_HOST.value, port=_PORT.value)
  return 0


COMMANDS = {
    'prepare': _prepare,
    'train': _train,
    'sample': _sample,
    'eval': _eval,
    'app': _app,
    'plan': _plan,
}
# Commands that take no --config: they read everything from the run directory.
_RUN_COMMANDS = ('sample', 'eval', 'app')


class _ConciseLogs(py_logging.Filter):
  """INFO from lumos_jax only (jax, orbax and grain are chatty); warnings from everyone."""

  def filter(self, record):
    return record.levelno >= py_logging.WARNING or '/lumos_jax/' in record.pathname


def main(argv):
  if len(argv) != 2 or argv[1] not in COMMANDS:
    raise app.UsageError(
        f'usage: python -m lumos_jax {{{"|".join(COMMANDS)}}} --config=... ' f'(got {argv[1:]})'
    )
  if _CONFIG.value is None and argv[1] not in _RUN_COMMANDS:
    raise app.UsageError('--config=configs/X.py is required')
  handler = logging.get_absl_handler()
  handler.setFormatter(py_logging.Formatter('%(asctime)s %(levelname).1s %(message)s', '%H:%M:%S'))
  if not _ALL_LOGS.value:
    handler.addFilter(_ConciseLogs())
  logging.set_verbosity(logging.INFO)
  sys.exit(errors.run_command(lambda: COMMANDS[argv[1]](_CONFIG.value), _DEBUG.value))


if __name__ == '__main__':
  if sys.argv[1:2] == ['convert']:  # own argparse flags, no --config (convert/release.py)
    from lumos_jax.convert import release  # pylint: disable=g-import-not-at-top

    sys.exit(release.main(sys.argv[2:]))
  if sys.argv[1:2] == ['convert-tokenizer']:  # own argparse flags (tokenizers/cosmos/importer.py)
    from lumos_jax.tokenizers.cosmos import importer  # pylint: disable=g-import-not-at-top

    sys.exit(importer.main(sys.argv[2:]))
  if sys.argv[1:2] == ['bench']:  # own argparse flags, no --config (lumos_jax/bench.py)
    from lumos_jax import bench  # pylint: disable=g-import-not-at-top

    sys.exit(bench.main(sys.argv[2:]))
  app.run(main)
