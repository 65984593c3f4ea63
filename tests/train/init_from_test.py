# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""`train.init_from`: a converted tiny release starts a run at step 0 with exactly its parameters
and a fresh optimizer; a different model is an error naming the keys; the driver uses it only
while WORKDIR has no checkpoint, and its first loss is the source model's on the first batch."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lumos_jax import checkpoint, parallel, testing
from lumos_jax import config as config_lib
from lumos_jax.convert import release
from lumos_jax.errors import UserError
from lumos_jax.train import init_from, loop
from lumos_jax.train.state import TrainState, abstract_train_state, create_train_state
from lumos_jax.train.step import StepSettings, compile_train_step

pytest.importorskip('torch')
testing.enable_compilation_cache()  # the driver test compiles the tiny step as loop_test does


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  """A converted tiny random Lumos-1 release (bf16 parameters, as released)."""
  root = tmp_path_factory.mktemp('release')
  hf = testing.write_release(root / 'hf', testing.release_state_dict())
  cosmos = testing.write_cosmos_dir(root / 'cosmos')
  text = testing.write_text_tokenizer(root / 'text_tokenizer.json')
  return release.convert(hf, text, cosmos, root / 'run')


def _finetune_config(source, **model):
  """The source run's config with float32 master weights (as the fine-tuning recipe has)."""
  raw = json.loads((source / 'config.json').read_text())
  raw['model'].update(param_dtype='float32', **model)
  raw['train']['init_from'] = str(source)
  return config_lib.parse(raw)


def _mesh():
  return parallel.make_mesh((1, 1, 1), jax.devices()[:1])


def test_state_holds_the_source_params_fresh_optimizer_step_0(converted):
  config = _finetune_config(converted)
  settings = StepSettings.create(config)
  abstract, shardings = abstract_train_state(settings.model, settings.tx, config.seed, _mesh())
  state, source_step = init_from.init_state(
      converted, config.model, config.vocab, settings.tx, config.seed, abstract, shardings
  )
  assert source_step == 0 and int(state.step) == 0
  source = checkpoint.load_state_arrays(converted / 'checkpoints')  # bf16, as released
  ours = {
      '/'.join(map(str, path)): np.asarray(v.get_value())
      for path, v in nnx.to_flat_state(state.params)
  }
  assert len(ours) == len(source) > 0
  for key, value in ours.items():
    want = source[f'params/{key}/value']
    assert value.dtype == np.float32, key  # read into this run's float32 master weights
    np.testing.assert_array_equal(value, want.astype(np.float32), key)
  # A fresh optimizer: Adam moments are zero, its step count 0.
  assert all(not np.any(np.asarray(x)) for x in jax.tree.leaves(state.opt_state))
  np.testing.assert_array_equal(state.rng, jax.random.PRNGKey(config.seed))


def test_another_model_is_named(converted, tmp_path):
  config = _finetune_config(converted, embed_dim=128, num_layers=3)
  with pytest.raises(UserError) as e:
    init_from.check_compatible(converted, config.model, config.vocab)
  message = str(e.value)
  assert 'model.embed_dim: 64 there, 128 here' in message
  assert 'model.num_layers: 2 there, 3 here' in message and 'mlp_dim' not in message
  tiny = config_lib.parse(testing.load_config('tiny'))
  with pytest.raises(UserError, match=r'vocab: .*codebook_size=64000 there, 64 here'):
    init_from.check_compatible(converted, config.model, tiny.vocab)
  with pytest.raises(UserError, match=f'train.init_from={tmp_path}/none: no such directory'):
    init_from.check_compatible(tmp_path / 'none', config.model, config.vocab)
  (tmp_path / 'run').mkdir()
  with pytest.raises(UserError, match='config.json not found'):
    init_from.check_compatible(tmp_path / 'run', config.model, config.vocab)


def _first_losses(config, states, batch):
  """The train step's loss on `batch` from each state (compiled once)."""
  mesh = _mesh()
  settings = StepSettings.create(config)
  _, shardings = abstract_train_state(settings.model, settings.tx, config.seed, mesh)
  step = compile_train_step(settings, mesh, shardings)
  sharding = parallel.batch_sharding(mesh)
  batch = {k: jax.device_put(jnp.asarray(batch[k]), sharding) for k in ('tokens', 'labels')}
  return [float(step(state, batch)[1]['loss']) for state in states]


def test_driver_starts_from_the_source_and_resume_wins(tmp_path):
  """Tiny config on in-memory batches: a 1-step source run, then a fine-tuning run from it."""
  overrides = {
      'train.num_steps': 1,
      'train.eval_every': 0,
      'train.progress_bar': False,
      'checkpoint.every_steps': 1,
      'checkpoint.async_save': False,
      'mesh.shape': (1, 1, 1),
      'data.batch_size': 2,
  }
  data = testing.FakeData()
  source = tmp_path / 'source'
  loop.run(testing.load_config('tiny', **overrides), source, data=data)
  losses = []
  config = testing.load_config('tiny', **overrides, **{'train.init_from': str(source), 'seed': 7})
  result = loop.run(config, tmp_path / 'ft', data=data, hooks=[lambda s, m, c: losses.append(m)])
  assert result.start_step == 0 and result.step == 1

  parsed = config_lib.parse(config)
  settings = StepSettings.create(parsed)
  batch = next(data.make_iterator(parsed.data, parsed.vocab, seed=parsed.seed))
  mesh = _mesh()
  abstract, shardings = abstract_train_state(settings.model, settings.tx, parsed.seed, mesh)
  params, _ = checkpoint.restore_params(source / 'checkpoints', abstract.params)
  opt_state = jax.jit(settings.tx.init, out_shardings=shardings.opt_state)(params)
  expected_state = TrainState(
      jnp.zeros((), jnp.int32), params, opt_state, jax.random.PRNGKey(parsed.seed)
  )
  _, fresh, _ = create_train_state(settings.model, settings.tx, seed=parsed.seed, mesh=mesh)
  expected, from_scratch = _first_losses(parsed, [expected_state, fresh], batch)
  assert float(losses[0]['loss']) == pytest.approx(expected, rel=1e-6)
  assert abs(from_scratch - expected) > 1e-3  # the source's loss, not a random model's

  # Resume wins: with a checkpoint in WORKDIR, init_from is not read (even if gone).
  config.train.num_steps = 2
  config.train.init_from = str(tmp_path / 'gone')
  assert loop.run(config, tmp_path / 'ft', data=data).start_step == 1
