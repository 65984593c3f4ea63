# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The PyTorch side-by-side train step of `make bench` (lumos_jax/bench_torch.py)."""

import math

import jax
import numpy as np
import pytest

from lumos_jax import ardf, bench, bench_torch

pytest.importorskip('transformers')


def _masked_tiny_batch():
  config, latents = bench._train_config('tiny', 'dense')  # pylint: disable=protected-access
  batch = bench.synthetic_batch(config.vocab, 2, 2, latents)
  mask = ardf.training_mask(jax.random.key(1), batch['labels'], config.vocab)
  tokens, targets = ardf.apply_mask(batch['tokens'], batch['labels'], mask, config.vocab)
  return config, np.asarray(tokens), np.asarray(targets)


def test_torch_step_trains_on_the_masked_visual_targets():
  """At initialisation (logits near 0) the visual cross-entropy is log(codebook size), and
  repeated steps on one batch lower it: the loss sees the targets and AdamW updates the model."""
  config, tokens, targets = _masked_tiny_batch()
  step = bench_torch._torch_step(config.model, config.vocab, tokens, targets)  # pylint: disable=protected-access
  losses = [step() for _ in range(8)]
  assert losses[0] == pytest.approx(math.log(config.vocab.codebook_size), abs=0.05)
  assert losses[-1] < losses[0] - 0.1


def test_records_and_table():
  rec = bench.Recorder()
  bench_torch.bench_pytorch(rec, bench.plan(True, 'cpu'))
  by_metric = {r['metric']: r for r in rec.records}
  assert {r['name'] for r in rec.records} == {'pytorch/tiny'}
  torch_s, jax_s = by_metric['torch_step_time_s']['value'], by_metric['jax_step_time_s']['value']
  assert torch_s > 0 and jax_s > 0
  assert by_metric['torch_over_jax']['value'] == pytest.approx(torch_s / jax_s)
  text = bench.render(rec.records, 'make bench')
  assert '### PyTorch side by side' in text
  assert f'| tiny | 2 x {by_metric["torch_over_jax"]["seq_len"]} |' in text
