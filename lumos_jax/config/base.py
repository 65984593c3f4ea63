# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The base config: every key of every section, with its default and what it means.

Presets (configs/*.py) start from `get_config()` and override only what differs; `schema.parse`
rejects any key that is not named here. Defaults: the official recipe where the paper or code
fixes a value (spec 6.8, 7.1), otherwise the embedded synthetic demo world.
"""

from __future__ import annotations

import ml_collections as mlc


def get_config() -> mlc.ConfigDict:
  """A fresh ConfigDict holding every key with its default."""
  c = mlc.ConfigDict()
  c.seed = 0  # parameter init, data shuffling and masks (spec 6.8: seed 0)

  c.vocab = mlc.ConfigDict()
  c.vocab.preset = 'demo'  # 'lumos1' (official 129,536 ids, Cosmos codes) | 'demo' (byte text)
  c.vocab.codebook_size = 128  # visual codes; 0 = the preset's own (lumos1: 64,000)
  c.vocab.latent_per_grid = 0  # demo preset: latent rows per frame-size grid unit (0: 1)
  c.vocab.rope_strides = ()  # demo preset: MM-RoPE (t, h, w) strides = tokenizer compression

  c.model = mlc.ConfigDict()
  c.model.embed_dim = 128  # model width (HF hidden_size)
  c.model.num_layers = 4  # decoder blocks
  c.model.num_heads = 4  # query heads
  c.model.num_kv_heads = 2  # key/value heads (GQA when < num_heads)
  c.model.head_dim = 32  # per-head width; a multiple of 32 for MM-RoPE
  c.model.mlp_dim = 512  # SwiGLU hidden width
  c.model.rope_theta = 10000.0  # RoPE base
  c.model.rope_variant = 'mm'  # 'mm' (official MM-RoPE) | '1d' | '3d_contiguous' (ablations)
  c.model.rms_norm_eps = 1e-5  # RMSNorm epsilon
  c.model.qk_norm_eps = 1e-5  # per-head q/k LayerNorm epsilon (official: 1e-5)
  c.model.q_norm_groups = 1  # rows of the q-norm affine (official: model_parallel_size)
  c.model.k_norm_groups = 1  # rows of the k-norm affine
  c.model.attention_bias = False  # biases on q/k/v/o projections
  c.model.mlp_bias = False  # biases on the MLP projections
  c.model.dtype = 'float32'  # compute dtype: float32 | bfloat16 | float16
  c.model.param_dtype = 'float32'  # storage dtype of the parameters
  c.model.remat_policy = 'none'  # activation checkpointing: none | full | dots | dots_no_batch
  c.model.scan_unroll = 1  # layers per layer-scan iteration (num_layers: straight-line code)
  c.model.attention_impl = 'dense'  # dense | blockwise | pallas_gpu | splash_tpu | cudnn | auto
  c.model.attention_mask = 'frame_causal'  # 'frame_causal' (official) | 'causal' (ablation)
  c.model.init_std = 0.02  # std of the normal initialiser of embeddings and kernels

  c.data = mlc.ConfigDict()
  c.data.dir = 'data/demo'  # prepared versions live in <dir>/<hash of the data settings>/
  c.data.source = 'synthetic'  # 'synthetic' (embedded generator) | 'user' (see data.user)
  c.data.seed = 0  # synthetic generation and visual tokenizer fit
  c.data.placement = 'random'  # synthetic paths: 'random' | 'lane' | 'centred' (synthetic.py)
  c.data.num_train = 4000  # synthetic train videos
  c.data.num_heldout = 64  # synthetic held-out videos (unseen attribute combinations)
  c.data.num_train_images = 1000  # synthetic train images
  c.data.num_heldout_images = 16  # synthetic held-out images
  c.data.frames = 8  # stored clip length in RGB frames at data.fps
  c.data.size = 32  # stored frame size in pixels: side, or (height, width)
  c.data.fps = 8  # stored clip frame rate
  c.data.max_text_tokens = 64  # longest prompt in tokens
  c.data.text_tokenizer = ''  # tokenizer.json for vocabularies without a byte range (lumos1)
  c.data.tokenizer = mlc.ConfigDict()  # the visual tokenizer (docs/tokenizers.md)
  c.data.tokenizer.kind = 'patch_vq'  # 'patch_vq' (demo, fitted on the train clips) | 'cosmos'
  c.data.tokenizer.path = ''  # cosmos: the directory written by `convert-tokenizer`
  c.data.tokenizer.dtype = 'bfloat16'  # cosmos compute dtype: bfloat16 (Lumos's) | float32 (exact)
  c.data.tokenizer.patch_size = 8  # patch_vq: pixels per latent side
  c.data.tokenizer.iters = 20  # patch_vq: k-means iterations
  c.data.tokenizer.fit_items = 256  # patch_vq: train clips the codebook is fitted on
  c.data.user = mlc.ConfigDict()  # source='user': a folder of mp4/png files and captions
  c.data.user.root = ''  # the folder
  c.data.user.captions = 'captions.jsonl'  # its caption file (docs/data.md)
  c.data.user.crop_target = 0  # 0: crop to data.size; 352 (256p) / 528 (384p): official crops
  c.data.num_shards = 1  # ArrayRecord shards per split (0: TFDS decides)
  c.data.on_bad_item = 'error'  # unreadable / invalid items: 'error' | 'skip' (counted, logged)
  c.data.commit_every = 256  # prepare: items per committed part; a killed prepare redoes fewer
  c.data.batch_size = 8  # global batch (split over processes)
  c.data.fps_duration = ((4, 1),)  # (fps, duration) choices, one per batch; fps divides data.fps
  c.data.masking_modes = ('text_to_video',)  # and/or 'video_next_frame' (spec 6.1)
  c.data.num_given_frames = 1  # context frames in video_next_frame mode
  c.data.cfg_dropout = 0.1  # probability of dropping the text (classifier-free guidance)
  c.data.cfg_modes = ('text_only',)  # and/or 'text_and_video'
  c.data.image_fraction = 0.0  # fraction of image batches (joint image-video training)
  c.data.length_buckets = (192, 256, 384)  # padded lengths; one compiled step per bucket
  c.data.prompt_template = '{caption}'  # or a template with {caption} {frames} {fps} ...
  c.data.shuffle = True  # shuffle items every epoch
  c.data.read_threads = 2  # grain read threads per process; prepare: media decoding threads
  c.data.prefetch = 2  # batches prepared ahead (0: none)

  c.ardf = mlc.ConfigDict()  # training masks (spec 6.3-6.5)
  c.ardf.mask_type = 'tube'  # tube | tube_decay | diffusion_forcing | random
  c.ardf.schedule = 'cosine'  # masking ratio schedule: cosine | linear | pow<X> | sigmoid
  c.ardf.min_masking_rate = 0.7  # lower clip of the sampled ratio

  c.loss = mlc.ConfigDict()
  c.loss.chunk_size = 128  # positions per LM-head block of the chunked cross-entropy
  c.loss.z_loss_weight = 0.0  # weight of mean(logsumexp^2) (official: 0)
  c.loss.max_frames = 8  # length of the per-frame loss metric

  c.optim = mlc.ConfigDict()  # AdamW (spec 6.8)
  c.optim.learning_rate = 5e-5  # peak learning rate
  c.optim.min_learning_rate = 5e-5  # end of the cosine decay (= learning_rate: constant)
  c.optim.warmup_steps = 0  # linear warm-up steps
  c.optim.decay = 'constant'  # after warm-up: 'constant' | 'cosine'
  c.optim.decay_steps = 0  # step at which the cosine reaches min_learning_rate
  c.optim.weight_decay = 0.1  # decoupled weight decay
  c.optim.b1 = 0.9  # Adam beta1
  c.optim.b2 = 0.95  # Adam beta2
  c.optim.eps = 1e-8  # Adam epsilon
  c.optim.grad_clip_norm = 4.0  # global gradient norm clip

  c.train = mlc.ConfigDict()  # the driver (lumos_jax/train/loop.py, hooks.py)
  c.train.num_steps = 3000  # optimizer steps of the run
  c.train.log_every = 25  # metrics.jsonl / TensorBoard / console every N steps
  c.train.eval_every = 250  # held-out loss every N steps (0: never)
  c.train.eval_batches = 4  # held-out batches per evaluation
  c.train.eval_split = 'heldout'  # the split evaluated
  c.train.max_nonfinite_in_a_row = 10  # skipped non-finite updates in a row before save-and-stop
  c.train.progress_bar = True  # tqdm bar on terminals
  c.train.profile_steps = ()  # (first, last): jax.profiler trace of these steps to WORKDIR/profile
  c.train.init_from = ''  # fine-tune: run dir whose params start step 0 (WORKDIR's ckpt wins)

  c.checkpoint = mlc.ConfigDict()
  c.checkpoint.every_steps = 500  # save period (and at the end, and on preemption)
  c.checkpoint.max_to_keep = 3  # newest checkpoints kept
  c.checkpoint.async_save = True  # write in the background while training continues

  c.mesh = mlc.ConfigDict()
  c.mesh.shape = (-1, 1, 1)  # (data, fsdp, tensor) devices; one -1 = fill
  # context parallelism: devices splitting each sequence (keys/values gathered); the devices are
  # context x prod(shape), and data.length_buckets must be multiples of it
  c.mesh.context = 1

  c.sample = mlc.ConfigDict()  # sampling (spec 7.1) and the held-out adherence evaluation
  c.sample.steps = 50  # MaskGIT steps per frame (official: 50)
  c.sample.cfg_scale = 15.0  # guidance scale of videos (official: 15)
  c.sample.image_cfg_scale = 16.0  # guidance scale of 1-frame samples, T2I (official: 16)
  c.sample.temperature = 1.0  # initial Gumbel temperature
  c.sample.temperature_mode = 'official'  # 'official' (annealed once) | 'per_frame'
  c.sample.history_mask_ratio = 0.7  # fraction of a finished frame masked in the cache
  c.sample.mask_given_frames = False  # I2V: history-mask the given frame too (official: no)
  c.sample.top_k = 0  # keep the k most likely codes (0: all)
  c.sample.top_p = 1.0  # nucleus mass (1.0: all)
  c.sample.eval_prompts = 64  # held-out prompts scored by `eval` (copied into the run)
  c.sample.batch_size = 16  # prompts per sampler batch in `eval`
  c.sample.seed = 0  # sampling seed of `eval`
  return c
