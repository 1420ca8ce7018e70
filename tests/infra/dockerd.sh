#!/usr/bin/env bash
# A private Docker engine (Debian docker.io 20.10) started by hand, without systemd.
#
#   dockerd.sh start [name]   start, or reuse the running instance; prints DOCKER_HOST=...
#   dockerd.sh stop  [name]   remove all its containers, stop it, unmount what it left mounted
#   dockerd.sh env   [name]   print DOCKER_HOST=unix://... (fails if not running)
#
# name (default "a", [a-z0-9], up to 12 chars) selects an independent engine, so a test can
# use two engines as two hosts. Per engine:
#   $INFRA_DIR/docker-<name>/docker.sock   API socket
#   $INFRA_DIR/docker-<name>/root          --data-root (images survive stop/start)
#   /tmp/imb-<id>-<name>                   --exec-root (removed on stop)
#   $INFRA_DIR/run/dockerd-<name>.pid      PID recorded at start
#
# The engine never touches the host network: no bridge, no iptables rules, no ip_forward.
# Containers therefore run with --network host (bind servers to 127.0.0.1) or --network none.
# DOCKERD_STORAGE_DRIVER overrides overlay2 (e.g. vfs when INFRA_DIR is on overlayfs).
set -euo pipefail
source "$(dirname "$0")/common.sh"

cmd=${1:-}
NAME=${2:-a}
[[ $NAME =~ ^[a-z0-9]{1,12}$ ]] || die "engine name must be 1-12 characters of [a-z0-9], got '$NAME'"

D=$INFRA_DIR/docker-$NAME
SOCK=$D/docker.sock
EXEC_ROOT=$EXEC_ROOT_PREFIX$NAME
PIDFILE=$RUN_DIR/dockerd-$NAME.pid
LOG=$LOG_DIR/dockerd-$NAME.log
# Containerd namespaces only matter when dockerd finds a system containerd on
# /run/containerd/containerd.sock and uses it instead of starting its own: distinct
# namespaces keep two engines (and the host's own Docker) from seeing each other's containers.
NAMESPACE=imb-$INFRA_ID-$NAME

[ ${#SOCK} -lt 100 ] || die "socket path too long for a unix socket (${#SOCK} bytes): $SOCK; use a shorter IMMUTABLE_INFRA_DIR"

api() { curl -sf -m 10 --unix-socket "$SOCK" "$@"; }
pings() { [ "$(curl -sf -m 2 --unix-socket "$SOCK" http://d/_ping 2>/dev/null)" = OK ]; }
running() { pidfile_alive "$PIDFILE" "$SOCK" && pings; }

start() {
  [ "$(id -u)" -eq 0 ] || die "dockerd needs root"
  require_pkgs docker.io curl
  with_lock "dockerd-$NAME"
  if running; then echo "DOCKER_HOST=unix://$SOCK"; return 0; fi
  # A recorded engine that no longer answers is stopped first, so at most one runs per name.
  stop_engine
  mkdir -p "$D/root"
  # Keep /etc/docker/daemon.json (the host's own engine settings) out of this engine.
  [ -e "$D/daemon.json" ] || echo '{}' >"$D/daemon.json"
  # dockerd refuses to start when its pidfile names a live PID, which a reused PID can be.
  rm -f "$D/dockerd.pid"
  local t0 pid
  t0=$(now_ms)
  pid=$(start_daemon "$LOG" dockerd \
    --host "unix://$SOCK" \
    --data-root "$D/root" \
    --exec-root "$EXEC_ROOT" \
    --pidfile "$D/dockerd.pid" \
    --config-file "$D/daemon.json" \
    --containerd-namespace "$NAMESPACE" \
    --containerd-plugins-namespace "$NAMESPACE-plugins" \
    --storage-driver="${DOCKERD_STORAGE_DRIVER:-overlay2}" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false)
  echo "$pid" >"$PIDFILE"
  wait_for_daemon 60 "dockerd '$NAME'" "$pid" "$LOG" pings || { stop_engine || true; exit 1; }
  info "dockerd '$NAME' ready in $(seconds_since "$t0") (pid $pid, socket $SOCK)"
  echo "DOCKER_HOST=unix://$SOCK"
}

remove_containers() {
  local ids id
  ids=$(api 'http://d/containers/json?all=1' | "$PYTHON" -c 'import json,sys; [print(c["Id"]) for c in json.load(sys.stdin)]') || return 0
  for id in $ids; do
    api -X DELETE "http://d/containers/$id?force=1&v=1" -o /dev/null || info "could not remove container $id"
  done
}

# stop_recorded <pidfile> <text> <what>: like stop_pidfile, for pidfiles written by the engine's
# own processes, which we must not delete.
stop_recorded() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  if [ -n "$pid" ] && pid_alive "$pid" && pid_cmdline_has "$pid" "$2"; then stop_pid "$pid" "$3"; fi
}

# shim_pids <container-id>: shims write no pidfile; the container id together with this engine's
# containerd address identifies them exactly.
shim_pids() {
  local f cmd pid
  for f in /proc/[0-9]*/cmdline; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
    [[ $cmd == *containerd-shim*" -id $1 "*"-address $EXEC_ROOT/containerd/containerd.sock"* ]] || continue
    pid=${f#/proc/}
    echo "${pid%/cmdline}"
  done
}

# Cleans up after an engine that died hard (KILL, OOM): containerd, shims and containers then
# outlive it. Each task bundle names its container's first process (init.pid) and shim socket.
reap_orphans() {
  local rc=0 bundle cid ipid spid addr
  stop_recorded "$EXEC_ROOT/containerd/containerd.pid" "$EXEC_ROOT" "containerd of '$NAME'" || rc=1
  for bundle in "$EXEC_ROOT"/containerd/daemon/io.containerd.runtime.v2.task/*/*/; do
    [ -d "$bundle" ] || continue
    bundle=${bundle%/}
    cid=${bundle##*/}
    ipid=$(cat "$bundle/init.pid" 2>/dev/null || true)
    # A container's PID 1 ignores TERM unless it installed a handler, and no engine is left to
    # escalate, so KILL it; its cgroup path carries the container id, proving the PID is still it.
    if [ -n "$ipid" ] && pid_alive "$ipid" && grep -q "$cid" "/proc/$ipid/cgroup" 2>/dev/null; then
      info "killing orphaned container ${cid:0:12} of '$NAME' (pid $ipid)"
      kill -KILL "$ipid" 2>/dev/null || true
    fi
    for spid in $(shim_pids "$cid"); do stop_pid "$spid" "containerd-shim of '$NAME'" || rc=1; done
    addr=$(cat "$bundle/address" 2>/dev/null || true)
    if [[ $addr == unix:///run/containerd/s/* ]] && [ -z "$(shim_pids "$cid")" ]; then rm -f "${addr#unix://}"; fi
  done
  return $rc
}

stop_engine() {
  local rc=0
  if pidfile_alive "$PIDFILE" "$SOCK" && pings; then remove_containers; fi
  # On TERM dockerd stops its containerd; with the containers gone that takes about a second.
  stop_pidfile "$PIDFILE" "$SOCK" "dockerd '$NAME'" || rc=1
  reap_orphans || rc=1
  umount_under "$EXEC_ROOT" "$D" || rc=1
  # The exec root is runtime state only; removing it keeps /tmp clean between runs.
  if [ $rc -eq 0 ]; then safe_rm_rf "$EXEC_ROOT" || rc=1; fi
  return $rc
}

stop() {
  with_lock "dockerd-$NAME"
  stop_engine
}

env_cmd() {
  running || die "dockerd '$NAME' is not running; start it with $0 start $NAME"
  echo "DOCKER_HOST=unix://$SOCK"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  env) env_cmd ;;
  *) echo "usage: $0 start|stop|env [name]" >&2; exit 2 ;;
esac
