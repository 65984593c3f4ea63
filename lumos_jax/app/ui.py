# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
"""The web app's page (Gradio): controls from what the run offers, progress, result, gallery.

`python -m lumos_jax app --workdir=RUN` calls `launch`. Everything the page loads comes from this
server (Gradio's bundled assets and its local fonts; analytics off, no share link), so the page
works without internet access. The API name of the generate event is `/generate`
(gradio_client: `Client(url).predict(..., api_name='/generate')`).
"""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import queue
import random

from absl import logging

from lumos_jax.app import service as service_lib
from lumos_jax.errors import UserError

os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
import gradio as gr  # pylint: disable=g-import-not-at-top,wrong-import-position  (reads the env)

MAX_SEED = 2**31 - 1
# Small generated frames are upscaled by the browser: keep the pixels sharp instead of blurred.
_CSS = '#result-video video, #result-image img { image-rendering: pixelated; }'


def _settings_table(history: list[dict]) -> str:
  lines = ['| # | settings | seconds |', '|---|---|---|']
  for i, h in enumerate(reversed(history)):
    lines.append(f'| {len(history) - i} | {h["settings"]} | {h["seconds"]:.1f} |')
  return '\n'.join(lines) if history else ''


def build(svc: service_lib.Service) -> gr.Blocks:
  """The page for a loaded run; its generate event is queued one at a time."""
  o = svc.offer
  one_size = len(o.resolutions) == 1
  # Generation runs on one worker thread (the run's model is on one device), which leaves the
  # event's thread free to relay progress: Gradio's tracker only works from the event's thread.
  worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix='generate')

  def generate(
      mode,
      prompt,
      seed,
      randomize,
      cfg_scale,
      steps,
      history_mask_ratio,
      temperature_mode,
      frames,
      fps,
      resolution,
      image,
      history,
      progress=gr.Progress(),  # noqa: B008  (Gradio injects the event's tracker via this default)
  ):
    seed = random.randint(0, MAX_SEED) if randomize else int(seed or 0)
    settings = service_lib.Settings(
        mode=mode,
        prompt=prompt or '',
        seed=seed,
        cfg_scale=float(cfg_scale),
        steps=int(steps),
        history_mask_ratio=float(history_mask_ratio),
        temperature_mode=temperature_mode,
        frames=int(frames),
        fps=int(fps),
        resolution=resolution,
        image=image,
    )
    try:
      svc.check(settings)
    except UserError as e:
      raise gr.Error(str(e), print_exception=False) from e
    events: queue.Queue = queue.Queue()
    progress(0, desc='starting (the first request of a shape compiles)')
    future = worker.submit(svc.generate, settings, lambda *a: events.put(a))
    while not future.done() or not events.empty():
      try:
        done, total, frame = events.get(timeout=0.1)
      except queue.Empty:
        continue
      progress((done, total), desc=f'frame {frame + 1}, MaskGIT step', unit='steps')
    try:
      result = future.result()
    except UserError as e:
      raise gr.Error(str(e), print_exception=False) from e
    entry = {
        'path': str(result.path),
        'settings': result.settings.describe(),
        'seconds': result.seconds,
    }
    history = [*history, entry]
    is_image = mode == 'text-to-image'
    gallery = [(h['path'], h['settings']) for h in reversed(history)]
    return (
        gr.update(value=None if is_image else str(result.path), visible=not is_image),
        gr.update(value=str(result.path) if is_image else None, visible=is_image),
        gallery,
        history,
        _settings_table(history),
        seed,
    )

  def on_mode(mode):
    video = mode != 'text-to-image'
    return (
        gr.update(value=o.cfg_scale if video else o.image_cfg_scale),
        gr.update(visible=video),
        gr.update(visible=video),
        gr.update(visible=video),
        gr.update(visible=mode == 'image-to-video'),
    )

  with gr.Blocks(title=f'lumos-jax: {svc.run.workdir.name}') as page:
    gr.Markdown(
        f'## lumos-jax: {svc.run.workdir}\n'
        f'Step {svc.run.step}; {o.default_resolution} px, up to {o.max_frames} latent frames '
        f'({o.temporal_compression} RGB frame(s) each).'
    )
    history = gr.State([])
    with gr.Row():
      with gr.Column(scale=1):
        mode = gr.Radio(list(service_lib.MODES), value='text-to-video', label='Mode')
        prompt = gr.Textbox(label='Prompt', lines=2, elem_id='prompt')
        image = gr.Image(type='filepath', label='First frame', visible=False, sources=['upload'])
        with gr.Row():
          seed = gr.Number(value=0, precision=0, label='Seed', minimum=0, maximum=MAX_SEED)
          randomize = gr.Checkbox(value=False, label='Randomize seed')
        resolution = gr.Dropdown(
            list(o.resolutions),
            value=o.default_resolution,
            label='Resolution (WxH)',
            interactive=not one_size,
            info='the size this run was trained at' if one_size else None,
        )
        frames = gr.Slider(
            2,
            max(2, o.max_frames),
            value=o.max_frames,
            step=1,
            label='Frames (latent)' if o.temporal_compression > 1 else 'Frames',
            interactive=o.max_frames > 2,
        )
        fps = gr.Dropdown(list(o.fps), value=o.fps[0], label='FPS', interactive=len(o.fps) > 1)
        with gr.Accordion('Sampler', open=False):
          cfg_scale = gr.Slider(0, 30, value=o.cfg_scale, step=0.5, label='Guidance scale')
          steps = gr.Slider(1, 100, value=o.steps, step=1, label='MaskGIT steps per frame')
          history_mask = gr.Slider(
              0.05, 1.0, value=o.history_mask_ratio, step=0.05, label='History mask ratio'
          )
          temperature_mode = gr.Radio(
              list(service_lib.sampling.TEMPERATURE_MODES),
              value=o.temperature_mode,
              label='Temperature mode',
          )
        run_button = gr.Button('Generate', variant='primary', elem_id='generate')
      with gr.Column(scale=1):
        video = gr.Video(
            label='Result',
            elem_id='result-video',
            height=320,
            autoplay=True,
            loop=True,
            buttons=['download'],
            interactive=False,
        )
        picture = gr.Image(
            label='Result', elem_id='result-image', visible=False, interactive=False, height=320
        )
        gallery = gr.Gallery(label='Results so far', columns=6, height=200, elem_id='gallery')
        table = gr.Markdown()
    if o.examples:
      gr.Examples([[p] for p in o.examples], inputs=[prompt], label='Held-out prompts')
    mode.change(
        on_mode,
        inputs=mode,
        outputs=[cfg_scale, frames, fps, history_mask, image],
        api_visibility='private',
    )
    inputs = [
        mode,
        prompt,
        seed,
        randomize,
        cfg_scale,
        steps,
        history_mask,
        temperature_mode,
        frames,
        fps,
        resolution,
        image,
        history,
    ]
    outputs = [video, picture, gallery, history, table, seed]
    run_button.click(generate, inputs, outputs, api_name='generate', concurrency_limit=1)
    prompt.submit(generate, inputs, outputs, api_visibility='private', concurrency_limit=1)
  return page


def launch(
    workdir: str | pathlib.Path,
    host: str = '127.0.0.1',
    port: int = 7860,
    out_dir: str | pathlib.Path | None = None,
    block: bool = True,
) -> gr.Blocks:
  """Loads the run and serves its page at http://host:port (blocks unless `block=False`)."""
  svc = service_lib.Service(workdir, out_dir)
  page = build(svc)
  logging.info('serving %s at http://%s:%d', workdir, host, port)
  page.queue(default_concurrency_limit=1).launch(
      server_name=host,
      server_port=port,
      share=False,
      prevent_thread_lock=not block,
      allowed_paths=[str(svc.out_dir)],
      show_error=True,
      css=_CSS,
      quiet=True,
      ssr_mode=False,  # no Node server: the bundled client-side page
  )
  return page
