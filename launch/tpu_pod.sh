#!/usr/bin/env bash
# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
#
# Run `python -m lumos_jax train` on every worker of a Cloud TPU VM pod slice (one process per
# host; jax.distributed finds the others through the TPU metadata, --distributed=on).
#
#   TPU_NAME=my-v5e-64 ZONE=us-west4-a WORKDIR=/mnt/shared/runs/3b_s2 \
#     CONFIG=configs/lumos1_3b_stage2_joint.py:steps_per_epoch=20000,gpus=64 \
#     launch/tpu_pod.sh [--config.key=value ...]
#   TPU_NAME=... ZONE=... launch/tpu_pod.sh --setup     # once: install the repo's venv + jax[tpu]
#
# Every worker needs this repository at REPO_DIR (default: ~/lumos-jax) and WORKDIR must be the
# same shared directory on all of them (NFS / Filestore, or a gcsfuse mount at the same path).
# Re-running the command resumes from the latest checkpoint; a maintenance event's SIGTERM makes
# the run checkpoint and exit 0.
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME}"
: "${ZONE:?set ZONE}"
REPO_DIR="${REPO_DIR:-~/lumos-jax}"
GCLOUD_FLAGS=(--zone "${ZONE}" --worker=all)
if [[ -n "${PROJECT:-}" ]]; then GCLOUD_FLAGS+=(--project "${PROJECT}"); fi

if [[ "${1:-}" == "--setup" ]]; then
  remote="cd ${REPO_DIR} && make install && .venv/bin/pip install --quiet 'jax[tpu]'"
else
  : "${CONFIG:?set CONFIG=configs/<recipe>.py[:args]}"
  : "${WORKDIR:?set WORKDIR=<shared directory>}"
  args=""
  for a in "$@"; do args+=" $(printf '%q' "${a}")"; done
  remote="cd ${REPO_DIR} && .venv/bin/python -m lumos_jax train --config=$(printf '%q' "${CONFIG}")"
  remote+=" --workdir=$(printf '%q' "${WORKDIR}") --distributed=on${args}"
fi
echo "tpu_pod: on all workers of ${TPU_NAME}: ${remote}"
gcloud compute tpus tpu-vm ssh "${TPU_NAME}" "${GCLOUD_FLAGS[@]}" --command "${remote}"
