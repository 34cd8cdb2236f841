#!/usr/bin/env bash
# Starts a throwaway OpenSSH server on 127.0.0.1 for the SFTP backend tests
# (src/transfer/backends/ssh/). Not a system service: its own config, keys and pid file live in
# a state dir, so it never touches /etc/ssh or the machine's real sshd.
#
#   scripts/start-sshd.sh            install openssh-server if missing, then start (idempotent)
#   scripts/start-sshd.sh --install  only install openssh-server if missing (for CI images)
#
# Environment: CAIRN_SSHD_DIR (default /tmp/cairn-sshd), CAIRN_SSHD_PORT (default 2222).
# Prints the connection facts and writes them as JSON to $CAIRN_SSHD_DIR/env.json.
set -euo pipefail

DIR="${CAIRN_SSHD_DIR:-/tmp/cairn-sshd}"
PORT="${CAIRN_SSHD_PORT:-2222}"
SSHD=/usr/sbin/sshd

install_sshd() {
  [ -x "$SSHD" ] && command -v ssh-keygen >/dev/null 2>&1 && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
      echo "start-sshd: $SSHD is missing and installing it needs root or sudo" >&2; return 1
    fi
  fi
  echo "start-sshd: installing openssh-server" >&2
  $sudo apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client >&2
  # The package's postinst may start the system sshd on port 22; we do not need it, but
  # stopping a service we did not start is not ours to do, so leave it.
}

mkdir -p "$DIR"
chmod 700 "$DIR"
# Test processes may run this at the same time; one at a time keeps apt-get, key generation
# and the start from racing.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DIR/.lock"
  flock -w 300 9
fi

install_sshd
[ "${1:-}" = "--install" ] && exit 0

USER_NAME="$(id -un)"
CONFIG="$DIR/sshd_config"
PIDFILE="$DIR/sshd.pid"
HOSTKEY="$DIR/ssh_host_ed25519_key"
CLIENTKEY="$DIR/id_ed25519"
AUTHKEYS="$DIR/authorized_keys"
KNOWNHOSTS="$DIR/known_hosts"
LOG="$DIR/sshd.log"

# Readers (a test connecting right now) must never see a half-written file: write, then rename.
put_file() {
  cat > "$1.tmp.$$"
  mv -f "$1.tmp.$$" "$1"
}

[ -f "$HOSTKEY" ] || ssh-keygen -q -t ed25519 -N '' -C cairn-test-host -f "$HOSTKEY"
[ -f "$CLIENTKEY" ] || ssh-keygen -q -t ed25519 -N '' -C cairn-test-client -f "$CLIENTKEY"
# sshd and ssh refuse private keys that others can read, whatever StrictModes says.
chmod 600 "$HOSTKEY" "$CLIENTKEY"
put_file "$AUTHKEYS" < "$CLIENTKEY.pub"
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$HOSTKEY.pub")" | put_file "$KNOWNHOSTS"

put_file "$CONFIG" <<EOF
# Written by scripts/start-sshd.sh; regenerated on every run.
ListenAddress 127.0.0.1
Port $PORT
HostKey $HOSTKEY
PidFile $PIDFILE
AuthorizedKeysFile $AUTHKEYS
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
LogLevel VERBOSE
EOF

# Our sshd, not whatever process inherited a stale pid: its command line names our config.
running() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONFIG"
}

listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

# Started earlier with another CAIRN_SSHD_PORT: replace it.
if running && ! listening; then
  kill "$(cat "$PIDFILE")"
  for _ in $(seq 1 50); do running || break; sleep 0.1; done
fi

if ! running; then
  # Privilege separation needs this directory when sshd starts as root (Debian puts it on tmpfs).
  if [ "$(id -u)" -eq 0 ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi
  "$SSHD" -t -f "$CONFIG"
  "$SSHD" -f "$CONFIG" -E "$LOG"
  for _ in $(seq 1 50); do running && listening && break; sleep 0.1; done
  if ! running || ! listening; then
    echo "start-sshd: sshd did not come up on 127.0.0.1:$PORT; log follows ($LOG):" >&2
    tail -n 20 "$LOG" >&2 || true
    exit 1
  fi
fi

put_file "$DIR/env.json" <<EOF
{"host":"127.0.0.1","port":$PORT,"user":"$USER_NAME","identityFile":"$CLIENTKEY","knownHostsFile":"$KNOWNHOSTS","pidFile":"$PIDFILE","dir":"$DIR"}
EOF
echo "sshd: 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"
echo "user: $USER_NAME"
echo "key: $CLIENTKEY"
echo "known_hosts: $KNOWNHOSTS"
echo "env: $DIR/env.json"
