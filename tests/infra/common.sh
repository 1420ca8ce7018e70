# shellcheck shell=bash
# Shared settings and helpers for the test infrastructure scripts. Source it; do not run it.
#
# Everything a script starts is confined to INFRA_DIR (state, logs, pidfiles) plus short
# per-engine exec roots in /tmp, so several checkouts or CI jobs can run side by side when
# they use different IMMUTABLE_INFRA_DIR values, and stop-all/leftovers can find exactly what
# this INFRA_DIR started. Slow-to-build artefacts (base images) live in CACHE_DIR instead,
# because they outlive any single INFRA_DIR.
set -euo pipefail

INFRA_DIR=${IMMUTABLE_INFRA_DIR:-/tmp/immutable-build-infra}
# Pidfile ownership checks compare command lines against this path, so it must be absolute
# and spelled the same way by every script.
INFRA_DIR=$(realpath -m -- "$INFRA_DIR")
CACHE_DIR=${IMMUTABLE_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/immutable-build}
CACHE_DIR=$(realpath -m -- "$CACHE_DIR")
LOG_DIR=$INFRA_DIR/logs
RUN_DIR=$INFRA_DIR/run
INFRA_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$LOG_DIR" "$RUN_DIR"

# A pyenv/asdf shim may shadow python3 and costs ~0.1 s per call; the system one is enough.
if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi

# Unix socket paths are limited to 107 bytes, and containerd nests its sockets a few levels
# below dockerd's --exec-root, so exec roots live directly in /tmp. The short id ties them to
# this INFRA_DIR so two INFRA_DIRs never share an engine.
INFRA_ID=$(printf '%s' "$INFRA_DIR" | sha256sum | cut -c1-8)
EXEC_ROOT_PREFIX=/tmp/imb-$INFRA_ID-

info() { echo "[infra] $*" >&2; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
# seconds_since <start-ms>: elapsed time as "1.23s".
seconds_since() { local d=$(($(now_ms) - $1)); printf '%d.%02ds' $((d / 1000)) $((d % 1000 / 10)); }
die() { echo "[infra] error: $*" >&2; exit 1; }

# require_pkgs <debian-package>...: installs what is missing. Service starts are suppressed
# during the install because the packaged units would grab the ports and directories the
# scripts manage themselves (e.g. docker-registry's packaged config listens on :5000 with
# htpasswd auth). Without root there is no way to install, so say what is needed and stop.
require_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "[infra] missing Debian packages: ${missing[*]}" >&2
    echo "[infra] install them as root first:  apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  info "installing Debian packages: ${missing[*]}"
  (
    # apt holds its own lock and fails instead of waiting, so serialize concurrent scripts.
    flock -w 600 9 || die "timed out waiting for $RUN_DIR/apt.lock"
    if [ ! -e "$RUN_DIR/apt-updated" ]; then
      apt-get update -q >"$LOG_DIR/apt-update.log" 2>&1 || { tail -20 "$LOG_DIR/apt-update.log" >&2; die "apt-get update failed"; }
      touch "$RUN_DIR/apt-updated"
    fi
    local guard=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      guard=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod 755 "$guard"
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
      >>"$LOG_DIR/apt-install.log" 2>&1 || { tail -30 "$LOG_DIR/apt-install.log" >&2; die "apt-get install ${missing[*]} failed"; }
  ) 9>"$RUN_DIR/apt.lock"
}

# wait_for <seconds> <what> <command...>: polls until the command succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then info "timed out after ${secs}s waiting for $what"; return 1; fi
    sleep 0.1
  done
}

# wait_for_daemon <seconds> <what> <pid> <logfile> <command...>: like wait_for, but gives up
# at once when the daemon has exited (bad flag, port taken) and shows why.
wait_for_daemon() {
  local secs=$1 what=$2 pid=$3 log=$4; shift 4
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pid"; then
      info "$what exited during startup; last lines of $log:"; tail -20 "$log" >&2 || true; return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      info "timed out after ${secs}s waiting for $what; last lines of $log:"; tail -20 "$log" >&2 || true; return 1
    fi
    sleep 0.1
  done
}

# free_port: a loopback TCP port that nothing listens on right now.
free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# port_free <port>: true when nothing accepts connections on 127.0.0.1:<port>.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive <pid>: running and not a zombie. Daemons are reparented to PID 1 when the starting
# script exits; if PID 1 does not reap, a dead daemon lingers as a zombie that kill -0 accepts.
pid_alive() {
  local pid=$1 state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# pid_cmdline_has <pid> <text>: guards against a recorded PID that was reused by an unrelated
# process after a reboot or crash.
pid_cmdline_has() {
  local cmd
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
  [[ $cmd == *"$2"* ]]
}

# pidfile_alive <pidfile> <text>: the recorded process runs and its command line contains <text>.
pidfile_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(<"$1")
  pid_alive "$pid" && pid_cmdline_has "$pid" "$2"
}

# stop_pid <pid> <what>: TERM, up to 15 s grace, then KILL.
stop_pid() {
  local pid=$1 what=$2 i
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
  info "$what (pid $pid) ignored TERM for 15 s; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
  info "$what (pid $pid) is still alive after KILL"
  return 1
}

# stop_pidfile <pidfile> <text> <what>: stops only the recorded PID, and only if its command
# line still contains <text>; the pidfile is removed either way once the process is gone.
stop_pidfile() {
  local f=$1 text=$2 what=$3 pid
  [ -e "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -n "$pid" ] && pid_alive "$pid" && pid_cmdline_has "$pid" "$text"; then
    info "stopping $what (pid $pid)"
    stop_pid "$pid" "$what" || return 1
  fi
  rm -f "$f"
}

# mounts_under <dir>...: mount points at or below the given directories, deepest first.
mounts_under() {
  local d
  for d in "$@"; do
    d=${d%/}
    # /proc/mounts escapes blanks as octal (\040); printf %b turns them back.
    awk '{print $2}' /proc/mounts | while read -r m; do
      m=$(printf '%b' "$m")
      if [ "$m" = "$d" ] || [[ $m == "$d"/* ]]; then echo "$m"; fi
    done
  done | awk '{print length($0) "\t" $0}' | sort -rn | cut -f2- | uniq
}

# umount_under <dir>...: unmounts everything left mounted below the directories (engines leave
# overlay, netns and shm mounts behind when they die hard). Fails if anything stays mounted.
umount_under() {
  local m rc=0
  while read -r m; do
    [ -n "$m" ] || continue
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || { info "could not unmount $m"; rc=1; }
  done < <(mounts_under "$@")
  return $rc
}

# safe_rm_rf <dir>: never recurse into a bind mount (a leftover /dev or /proc bind would make
# rm -rf delete host files).
safe_rm_rf() {
  [ -e "$1" ] || return 0
  umount_under "$1" || { info "not removing $1: something below it is still mounted"; return 1; }
  [ -z "$(mounts_under "$1")" ] || return 1
  rm -rf --one-file-system -- "$1"
}

# start_daemon <logfile> <command...>: runs a server detached from the caller (own session,
# no inherited stdio or lock fds) so test runners capturing our output never wait on it.
# Prints the PID.
start_daemon() {
  local log=$1; shift
  setsid "$@" </dev/null >>"$log" 2>&1 8>&- 9>&- &
  echo $!
}

# with_lock <name>: serializes concurrent start/stop of the same service. fd 8 is closed in
# started daemons (start_daemon), otherwise they would hold the lock forever.
with_lock() {
  exec 8>"$RUN_DIR/$1.lock"
  flock -w 300 8 || die "timed out waiting for $RUN_DIR/$1.lock"
}
