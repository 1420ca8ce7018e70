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
# own processes (containerd, shims, container init), which we must not delete.
stop_recorded() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  if [ -n "$pid" ] && pid_alive "$pid" && pid_cmdline_has "$pid" "$2"; then stop_pid "$pid" "$3"; fi
}

stop_engine() {
  local rc=0 f
  if pidfile_alive "$PIDFILE" "$SOCK" && pings; then remove_containers; fi
  # dockerd stops its containerd on TERM; shutdown takes a few seconds with containers gone.
  stop_pidfile "$PIDFILE" "$SOCK" "dockerd '$NAME'" || rc=1
  # Only after a hard kill do its children survive; each of them recorded its own PID.
  stop_recorded "$EXEC_ROOT/containerd/containerd.pid" "$EXEC_ROOT" "containerd of '$NAME'" || rc=1
  if [ -d "$EXEC_ROOT/containerd" ]; then
    while read -r f; do
      local dir=${f%/shim.pid} cid=${f%/shim.pid}; cid=${cid##*/}
      # The container's first process carries its id in its cgroup path, not in its command line.
      local ipid
      ipid=$(cat "$dir/init.pid" 2>/dev/null || true)
      if [ -n "$ipid" ] && pid_alive "$ipid" && grep -q "$cid" "/proc/$ipid/cgroup" 2>/dev/null; then
        stop_pid "$ipid" "container $cid of '$NAME'" || rc=1
      fi
      stop_recorded "$f" "$EXEC_ROOT" "containerd-shim of '$NAME'" || rc=1
    done < <(find "$EXEC_ROOT/containerd" -name shim.pid 2>/dev/null)
  fi
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
