# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
import json

from lumos_jax import sampling
from lumos_jax import vocab as vocab_lib
from lumos_jax.data import synthetic
from lumos_jax.evaluation import adherence
from lumos_jax.model import ModelConfig, create_model
from lumos_jax.tokenizers.patch_vq import PatchVQ
from lumos_jax.tokenizers.text import ByteTokenizer


def test_evaluate_writes_samples_and_scores(tmp_path):
  vocab = vocab_lib.demo(codebook_size=32)
  clip = adherence.Clip(frames=2, size=16, fps=2, duration=1)
  examples = synthetic.generate(3, seed=1, split='heldout', frames=2, size=16, fps=2)
  tokenizer = PatchVQ.fit([e.video for e in examples], codebook_size=32, patch_size=8, iters=2)
  model = create_model(
      ModelConfig(
          vocab_size=vocab.size,
          embed_dim=32,
          num_layers=1,
          num_heads=1,
          num_kv_heads=1,
          head_dim=32,
          mlp_dim=64,
      )
  )
  prompts = [adherence.Prompt(e.caption, e.attributes) for e in examples]
  scores = adherence.evaluate(
      model,
      vocab,
      ByteTokenizer(vocab),
      tokenizer,
      prompts,
      clip,
      sampling.SamplingConfig(steps=2, cfg_scale=3.0),
      out_dir=tmp_path,
      batch_size=2,
  )
  assert set(scores) == {'colour', 'shape', 'direction', 'overall'}
  assert all(0.0 <= v <= 1.0 for v in scores.values())
  records = [json.loads(line) for line in (tmp_path / 'samples.jsonl').read_text().splitlines()]
  assert [r['prompt'] for r in records] == [e.caption for e in examples]
  for r, e in zip(records, examples):
    assert r['attributes']['colour'] == e.attributes.colour
    assert (tmp_path / r['video']).exists() and (tmp_path / r['reference']).exists()
  assert (tmp_path / 'contact_sheet.png').exists()
  assert json.loads((tmp_path / 'adherence.json').read_text()) == scores
  table = adherence.format_table(scores)
  assert '| colour |' in table and '0.143' in table  # chance for 7 colours
