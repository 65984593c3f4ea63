# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""PyTorch baseline of the train-step benchmark: transformers' Chameleon beside the lumos-jax step.

`bench_pytorch(rec, p)` times, for every (model, batch, frames) of `Plan.pytorch`, one AR-DF
train step both ways in the same process, alternating (so host load hits both alike): a
transformers `ChameleonModel` of the same shape with an untied LM head, the frame-causal mask as a
dense [B, 1, L, L] additive mask, cross-entropy over the visual columns at the masked targets,
gradient clipping and AdamW; and `train.step.compile_train_step` on the same batch. Records the
two median step times and their ratio (PyTorch / lumos-jax). Weights are random on both sides:
the cost does not depend on them. Needs torch and transformers (the test extras).
"""

from __future__ import annotations

import os
import statistics
import time

import jax
import numpy as np

from lumos_jax import ardf, layout
from lumos_jax.vocab import Vocab


def _torch_step(mc, vocab: Vocab, tokens: np.ndarray, targets: np.ndarray):
  """A closure running one PyTorch train step on the masked batch; returns its loss."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top

  spans = np.asarray(layout.attention_spans(tokens, vocab))
  segments = np.asarray(layout.segment_ids(tokens, vocab))
  length = tokens.shape[1]
  allowed = np.arange(length)[None, None, :] <= spans[:, :, None]
  allowed &= segments[:, :, None] == segments[:, None, :]
  mask = torch.zeros(allowed.shape, dtype=torch.float32)
  mask = mask.masked_fill_(torch.as_tensor(~allowed), torch.finfo(torch.float32).min)[:, None]
  config = transformers.ChameleonConfig(
      vocab_size=vocab.size,
      hidden_size=mc.embed_dim,
      num_hidden_layers=mc.num_layers,
      num_attention_heads=mc.num_heads,
      num_key_value_heads=mc.num_kv_heads,
      intermediate_size=mc.mlp_dim,
      model_parallel_size=1,
      vocabulary_map={},
      attn_implementation='sdpa',
      # the image tokenizer of the HF class is not used: the smallest that builds
      vq_config=dict(
          base_channels=32,
          channel_multiplier=[1, 1],
          num_res_blocks=1,
          embed_dim=8,
          latent_channels=8,
          num_embeddings=16,
          resolution=16,
      ),
  )
  torch.manual_seed(0)
  model = transformers.ChameleonModel(config).float().train()
  head = torch.nn.Linear(mc.embed_dim, vocab.size, bias=False)
  torch.nn.init.normal_(head.weight, std=config.initializer_range)  # as the model's weights
  params = [p for n, p in model.named_parameters() if not n.startswith('vqmodel')]
  params += list(head.parameters())
  opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
  ids = torch.as_tensor(np.array(tokens), dtype=torch.long)
  t = torch.as_tensor(np.array(targets), dtype=torch.long)
  is_target = (t >= vocab.visual_offset) & (t < vocab.visual_end)
  codes = torch.where(is_target, t - vocab.visual_offset, torch.full_like(t, -100))

  def step() -> float:
    opt.zero_grad(set_to_none=True)
    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    logits = head(hidden)[..., vocab.visual_offset : vocab.visual_end]
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), codes.reshape(-1), ignore_index=-100
    )
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 4.0)
    opt.step()
    return float(loss.detach())

  return step


def bench_pytorch(rec, p) -> None:
  """Records `pytorch/<model>` step times of both frameworks and their ratio (see module doc)."""
  import torch  # pylint: disable=g-import-not-at-top

  from lumos_jax import bench  # pylint: disable=g-import-not-at-top
  from lumos_jax.train import state as state_lib, step as step_lib  # pylint: disable=g-import-not-at-top

  torch.set_num_threads(os.cpu_count() or 1)  # as many as XLA:CPU uses
  for model, batch_size, frames in p.pytorch:
    config, latents = bench._train_config(model, 'dense')  # pylint: disable=protected-access
    vocab, mc = config.vocab, config.model
    batch = bench.synthetic_batch(vocab, batch_size, frames, latents)
    mask = ardf.training_mask(
        jax.random.key(0),
        batch['labels'],
        vocab,
        mask_type=config.ardf.mask_type,
        schedule_name=config.ardf.schedule,
        min_masking_rate=config.ardf.min_masking_rate,
    )
    tokens, targets = ardf.apply_mask(batch['tokens'], batch['labels'], mask, vocab)
    torch_step = _torch_step(mc, vocab, np.asarray(tokens), np.asarray(targets))
    settings = step_lib.StepSettings.create(config)
    _, state, _ = state_lib.create_train_state(mc, settings.tx, seed=0)
    jax_step = step_lib.compile_train_step(settings)
    state, metrics = jax_step(state, batch)  # compiles
    jax.block_until_ready(metrics)
    torch_step()  # warm-up
    torch_times, jax_times = [], []
    for _ in range(p.train_steps):
      start = time.perf_counter()
      torch_step()
      torch_times.append(time.perf_counter() - start)
      start = time.perf_counter()
      state, metrics = jax_step(state, batch)
      jax.block_until_ready(metrics)
      jax_times.append(time.perf_counter() - start)
    torch_s, jax_s = statistics.median(torch_times), statistics.median(jax_times)
    extra = dict(
        seq_len=int(batch['tokens'].shape[1]),
        batch=batch_size,
        frames=frames,
        params=int(sum(x.size for x in jax.tree.leaves(state.params))),
        torch_threads=torch.get_num_threads(),
    )
    rec.add(f'pytorch/{model}', 'torch_step_time_s', torch_s, 's', **extra)
    rec.add(f'pytorch/{model}', 'jax_step_time_s', jax_s, 's', **extra)
    rec.add(f'pytorch/{model}', 'torch_over_jax', torch_s / jax_s, 'ratio', **extra)
    del state
