#!/usr/bin/env bash
# Starts a throwaway one-node Slurm cluster on this machine for the Slurm compute backend tests
# (src/compute/backends/slurm/). One node named after `hostname -s`, partition `debug`, four
# fake GPUs (GRES `gpu` backed by plain files), munge for auth, no slurmdbd (so no sacct: the
# controller keeps finished jobs for MinJobAge=3600 s and `scontrol show job` answers for them).
#
#   scripts/start-slurm.sh            install slurm-wlm and munge if missing, then start (idempotent)
#   scripts/start-slurm.sh --install  only install the packages if missing (for CI images)
#
# Environment: CAIRN_SLURM_DIR (default /tmp/cairn-slurm): config, state, spool, logs, pid files.
# The config lives in $CAIRN_SLURM_DIR/slurm.conf (clients need SLURM_CONF pointing at it); a
# copy goes to /etc/slurm/ as well when nothing else owns that file, so a plain `sinfo` works.
# Prints a summary and writes the connection facts as JSON to $CAIRN_SLURM_DIR/env.json.
#
# Needs root: slurmd starts jobs as their submitting user, and the daemons run as root here
# (SlurmUser=root), which is what keeps this small. Not for a real cluster.
set -euo pipefail

DIR="${CAIRN_SLURM_DIR:-/tmp/cairn-slurm}"
CONF="$DIR/slurm.conf"
MARK="# Written by cairn scripts/start-slurm.sh"
GPUS=4

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "start-slurm: $1 needs root (the Slurm daemons run as root in this test setup)" >&2
    exit 1
  fi
}

install_slurm() {
  local missing=0 c
  for c in slurmctld slurmd sbatch squeue scontrol scancel sinfo munged; do
    command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing=1
  done
  [ "$missing" -eq 0 ] && return 0
  need_root "installing slurm-wlm and munge"
  echo "start-slurm: installing slurm-wlm and munge" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >&2
}

mkdir -p "$DIR"
# Test processes may run this at the same time; one at a time keeps apt-get, the config and
# the daemon starts from racing. Every daemon started below gets fd 9 closed (9>&-): a daemon
# that inherited it would hold the lock for as long as it lives.
exec 9>"$DIR/.lock"
flock -w 900 9

install_slurm
[ "${1:-}" = "--install" ] && exit 0
need_root "starting slurmctld and slurmd"
export PATH="$PATH:/usr/sbin:/sbin"

# Readers (a test reading env.json right now) must never see a half-written file.
put_file() {
  cat > "$1.tmp.$$"
  mv -f "$1.tmp.$$" "$1"
}

# --- munge -------------------------------------------------------------------------------
MUNGE_KEY=/etc/munge/munge.key
MUNGE_SOCKET_DIR=/run/munge
if [ ! -s "$MUNGE_KEY" ]; then
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null 2>&1; then mungekey --create --keyfile="$MUNGE_KEY" --force
  else dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none; fi
fi
chown munge:munge "$MUNGE_KEY" 2>/dev/null || true
chmod 400 "$MUNGE_KEY"
mkdir -p "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge
chown munge:munge "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 755 "$MUNGE_SOCKET_DIR"
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  # munged refuses to run as root when the key belongs to munge; run it as its own user.
  runuser -u munge -- /usr/sbin/munged </dev/null >>"$DIR/munged.out" 2>&1 9>&- || true
  for _ in $(seq 1 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    echo "start-slurm: munged did not come up; output follows:" >&2
    tail -n 20 "$DIR/munged.out" /var/log/munge/munged.log 2>/dev/null >&2 || true
    exit 1
  fi
fi

# --- configuration -----------------------------------------------------------------------
NODE="$(hostname -s 2>/dev/null || true)"
# A node name must be a plain host name that resolves; fall back to localhost otherwise.
if [ -z "$NODE" ] || ! [[ "$NODE" =~ ^[A-Za-z0-9][A-Za-z0-9-]*$ ]] || ! getent hosts "$NODE" >/dev/null 2>&1; then
  NODE=localhost
fi
CPUS="$(nproc)"
MEM_TOTAL_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
# Leave the OS some room: 5% or 256 MiB, whichever is more.
RESERVE=$(( MEM_TOTAL_MB / 20 > 256 ? MEM_TOTAL_MB / 20 : 256 ))
REAL_MEM=$(( MEM_TOTAL_MB - RESERVE ))
# Jobs without --mem get this much per CPU rather than the whole node, so jobs can share it.
DEF_MEM_PER_CPU=$(( REAL_MEM / CPUS < 1024 ? REAL_MEM / CPUS : 1024 ))
GPU_DIR="$DIR/gpu"
mkdir -p "$DIR/state" "$DIR/spool" "$GPU_DIR"
# slurmd binds a GPU (and sets CUDA_VISIBLE_DEVICES from the file name's number) only when its
# File= is a character or block device; a plain file is counted but never bound. A link to
# /dev/null is a character device and harmless.
for i in $(seq 0 $((GPUS - 1))); do
  [ -L "$GPU_DIR/nvidia$i" ] || ln -sfn /dev/null "$GPU_DIR/nvidia$i"
done

put_file "$CONF" <<EOF
$MARK; regenerated on every run.
ClusterName=cairn
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job waits cred_expire seconds before it may start again (default 120).
AuthInfo=cred_expire=20
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Containers: no cgroups, no affinity, processes tracked through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$DEF_MEM_PER_CPU
# The node is exactly what this file says, even when the container reports something else.
SlurmdParameters=config_overrides
ReturnToService=2
# No slurmdbd here, so no sacct: finished jobs stay in the controller (scontrol show job,
# squeue --states=all) for an hour, and a line per job goes to the completion log.
AccountingStorageType=accounting_storage/none
# No mail here (slurmctld complains at start when the default mailer is missing).
MailProg=/bin/true
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
MinJobAge=3600
# SIGTERM, then SIGKILL this many seconds later, at scancel and at the time limit.
KillWait=5
OverTimeLimit=0
JobRequeue=1
# Jobs append to their output files, so a requeued job keeps its first run's output.
JobFileAppend=1
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$REAL_MEM Gres=gpu:$GPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

put_file "$DIR/gres.conf" <<EOF
$MARK; regenerated on every run.
# Fake GPUs: plain files stand in for /dev/nvidia*, enough for scheduling and for
# CUDA_VISIBLE_DEVICES, not for running CUDA.
NodeName=$NODE Name=gpu File=$GPU_DIR/nvidia[0-$((GPUS - 1))]
EOF

put_file "$DIR/cgroup.conf" <<EOF
$MARK; regenerated on every run.
# Nothing here uses cgroups (proctrack/linuxproc, task/none), but slurmd 22.05 loads a cgroup
# plugin at start all the same; on cgroup v2 it must not ask systemd (there is none).
CgroupPlugin=autodetect
IgnoreSystemd=yes
EOF

# Plain `sinfo` and friends read /etc/slurm/slurm.conf: install a copy unless the machine has
# a Slurm config of its own.
if [ ! -e /etc/slurm/slurm.conf ] || head -n1 /etc/slurm/slurm.conf | grep -qF "$MARK"; then
  mkdir -p /etc/slurm
  for f in slurm.conf gres.conf cgroup.conf; do put_file "/etc/slurm/$f" < "$DIR/$f"; done
fi
export SLURM_CONF="$CONF"

# --- daemons -----------------------------------------------------------------------------
# slurmd reads the GPU files only at start, so what they are is part of its configuration.
HASH="$( (cat "$CONF" "$DIR/gres.conf" "$DIR/cgroup.conf"; ls -l "$GPU_DIR") | sha256sum | cut -d' ' -f1)"

# Our daemon, not whatever process inherited a stale pid: its command line names our config.
running() {
  local pidfile="$1" name="$2" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile" 2>/dev/null)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name.*$CONF"
}

stop() {
  local pidfile="$1" name="$2"
  running "$pidfile" "$name" || return 0
  kill "$(cat "$pidfile")"
  for _ in $(seq 1 100); do running "$pidfile" "$name" || return 0; sleep 0.1; done
  echo "start-slurm: $name did not stop" >&2
  return 1
}

# Started earlier with another configuration: restart both (job state survives in state/).
if [ "$(cat "$DIR/.conf-hash" 2>/dev/null)" != "$HASH" ]; then
  stop "$DIR/slurmd.pid" slurmd
  stop "$DIR/slurmctld.pid" slurmctld
fi

# A daemon that fails to start exits non-zero; say why below instead of dying silently (set -e).
if ! running "$DIR/slurmctld.pid" slurmctld; then
  /usr/sbin/slurmctld -f "$CONF" </dev/null >>"$DIR/slurmctld.out" 2>&1 9>&- || true
fi
for _ in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
if ! scontrol ping 2>/dev/null | grep -q 'is UP'; then
  echo "start-slurm: slurmctld did not come up; log follows ($DIR/slurmctld.log):" >&2
  tail -n 20 "$DIR/slurmctld.out" "$DIR/slurmctld.log" >&2 2>/dev/null || true
  exit 1
fi

if ! running "$DIR/slurmd.pid" slurmd; then
  /usr/sbin/slurmd -f "$CONF" -N "$NODE" </dev/null >>"$DIR/slurmd.out" 2>&1 9>&- || true
  for _ in $(seq 1 50); do running "$DIR/slurmd.pid" slurmd && break; sleep 0.1; done
  if ! running "$DIR/slurmd.pid" slurmd; then
    echo "start-slurm: slurmd did not start; log follows ($DIR/slurmd.log):" >&2
    tail -n 20 "$DIR/slurmd.out" "$DIR/slurmd.log" >&2 2>/dev/null || true
    exit 1
  fi
fi
echo "$HASH" > "$DIR/.conf-hash"

# Wait for the node to register; a node left down or drained (say, by a test that failed
# halfway) is resumed. alloc and mix are fine: another test process has jobs on it.
state=""
for _ in $(seq 1 150); do
  state="$(sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n1)"
  case "$state" in
    idle|alloc|mix|comp) break ;;
    down*|drain*|drng*|fail*)
      scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.2
done
case "$state" in
  idle|alloc|mix|comp) ;;
  *)
    echo "start-slurm: node $NODE is '$state', not idle; logs follow:" >&2
    scontrol show node "$NODE" >&2 2>/dev/null || true
    tail -n 20 "$DIR/slurmd.out" "$DIR/slurmd.log" >&2 2>/dev/null || true
    exit 1 ;;
esac

put_file "$DIR/env.json" <<EOF
{"partition":"debug","node":"$NODE","gpus":$GPUS,"cpus":$CPUS,"memoryMb":$REAL_MEM,"conf":"$CONF","dir":"$DIR","gpuDir":"$GPU_DIR","killWaitS":5,"jobCompLog":"$DIR/jobcomp.log"}
EOF
echo "slurm: node $NODE ($state), partition debug, $CPUS cpus, $REAL_MEM MiB, gpu:$GPUS"
echo "conf: $CONF (export SLURM_CONF=$CONF)"
echo "logs: $DIR/slurmctld.log $DIR/slurmd.log"
echo "env: $DIR/env.json"
