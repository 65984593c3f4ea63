#!/usr/bin/env bash
# Copyright 2026 The lumos-jax Authors. Licensed under the Apache License, Version 2.0.
#
# Several JAX processes on this machine, joined by jax.distributed (what tests/multihost_test.py
# runs). Each process gets --coordinator_address/--num_processes/--process_id appended.
#
#   NUM_PROCESSES=2 CPU_DEVICES=2 launch/local_multiprocess.sh \
#       python -m lumos_jax train --config=configs/tiny.py --workdir=/tmp/mp
#
# Environment:
#   NUM_PROCESSES  processes to start (default 2)
#   PORT           coordinator port on 127.0.0.1 (default 12355 + a hash of this shell's pid)
#   CPU_DEVICES    if set: run on the CPU backend with this many simulated devices per process
#                  (gloo collectives); unset: each process sees the machine's accelerators
#                  (set CUDA_VISIBLE_DEVICES / --local_device_ids yourself to split GPUs)
# Output lines are prefixed with [process index]. SIGTERM/SIGINT are forwarded to every process
# (preemption test); the exit status is the first non-zero status of a process, else 0.
set -euo pipefail

: "${NUM_PROCESSES:=2}"
: "${PORT:=$((12355 + $$ % 20000))}"
if [[ $# -eq 0 ]]; then
  echo "usage: [NUM_PROCESSES=N] [CPU_DEVICES=D] [PORT=P] $0 python -m lumos_jax train ..." >&2
  exit 2
fi
if [[ -n "${CPU_DEVICES:-}" ]]; then
  export JAX_PLATFORMS=cpu
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=${CPU_DEVICES}"
fi

echo "local_multiprocess: ${NUM_PROCESSES} processes, coordinator 127.0.0.1:${PORT}:" \
     "$* --coordinator_address=127.0.0.1:${PORT} --num_processes=${NUM_PROCESSES}" \
     "--process_id=<i>" >&2

pids=()
for ((i = 0; i < NUM_PROCESSES; i++)); do
  # Process substitution keeps $! the python process (not sed), so signals and statuses are its.
  "$@" --coordinator_address="127.0.0.1:${PORT}" --num_processes="${NUM_PROCESSES}" \
      --process_id="${i}" > >(sed -u "s/^/[${i}] /") 2> >(sed -u "s/^/[${i}] /" >&2) &
  pids+=("$!")
done

forward() {
  echo "local_multiprocess: forwarding $1 to ${pids[*]}" >&2
  kill "-$1" "${pids[@]}" 2>/dev/null || true
}
trap 'forward TERM' TERM
trap 'forward INT' INT

status=0
for pid in "${pids[@]}"; do
  # `wait` returns early (>128) when a trapped signal arrives: wait again for the real status.
  while true; do
    set +e
    wait "${pid}"
    rc=$?
    set -e
    if kill -0 "${pid}" 2>/dev/null; then continue; fi
    break
  done
  if [[ ${rc} -ne 0 && ${status} -eq 0 ]]; then status=${rc}; fi
done
wait  # the output filters
exit "${status}"
