#!/usr/bin/env bash
# Stops the throwaway services that scripts/start-sshd.sh and scripts/start-slurm.sh started for
# the tests (they stay up between test runs on purpose: starting Slurm costs seconds). Only
# processes whose pid file is ours and whose command line names our config are stopped; anything
# else (a system sshd, a real Slurm) is left alone. Safe to run when nothing is running.
set -u
SSHD_DIR="${CAIRN_SSHD_DIR:-/tmp/cairn-sshd}"
SLURM_DIR="${CAIRN_SLURM_DIR:-/tmp/cairn-slurm}"

stop() { # pidfile, text its command line must contain, name
  local pidfile="$1" marker="$2" name="$3" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile" 2>/dev/null)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker" || return 0
  kill "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { echo "stopped $name (pid $pid)"; return 0; }; sleep 0.1; done
  echo "stop-services: $name (pid $pid) did not stop" >&2
  return 1
}

stop "$SSHD_DIR/sshd.pid" "$SSHD_DIR" sshd
stop "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurm.conf" slurmd
stop "$SLURM_DIR/slurmctld.pid" "$SLURM_DIR/slurm.conf" slurmctld
