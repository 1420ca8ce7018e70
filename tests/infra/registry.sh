#!/usr/bin/env bash
# Local plain-HTTP OCI registry (Debian docker-registry, distribution 2.8) for tests.
#
#   registry.sh start   start, or reuse the running instance; prints the address
#   registry.sh stop    stop it (storage is kept, so pushed images survive a restart)
#   registry.sh env     print IMMUTABLE_TEST_REGISTRY=<host:port> (fails if not running)
#
# Listens on 127.0.0.1:$REGISTRY_PORT, or a free port when REGISTRY_PORT is unset. The address
# is written to $INFRA_DIR/run/registry.addr. Docker treats 127.0.0.0/8 registries as insecure
# on its own; other clients need their "insecure registry" switch for this address.
set -euo pipefail
source "$(dirname "$0")/common.sh"

REG_DIR=$INFRA_DIR/registry
REG_CONFIG=$REG_DIR/config.yml
REG_PIDFILE=$RUN_DIR/registry.pid
REG_ADDRFILE=$RUN_DIR/registry.addr
REG_LOG=$LOG_DIR/registry.log

answers_v2() { curl -sf -m 2 -o /dev/null "http://$1/v2/"; }

running_addr() {
  pidfile_alive "$REG_PIDFILE" "$REG_CONFIG" || return 1
  [ -s "$REG_ADDRFILE" ] || return 1
  local addr
  addr=$(<"$REG_ADDRFILE")
  answers_v2 "$addr" || return 1
  echo "$addr"
}

start() {
  require_pkgs docker-registry curl
  with_lock registry
  local addr
  if addr=$(running_addr) && { [ -z "${REGISTRY_PORT:-}" ] || [ "$addr" = "127.0.0.1:$REGISTRY_PORT" ]; }; then
    echo "$addr"; return 0
  fi
  stop_pidfile "$REG_PIDFILE" "$REG_CONFIG" registry
  rm -f "$REG_ADDRFILE"

  local port=${REGISTRY_PORT:-$(free_port)}
  port_free "$port" || die "127.0.0.1:$port is already in use (REGISTRY_PORT=${REGISTRY_PORT:-})"
  addr=127.0.0.1:$port
  mkdir -p "$REG_DIR/storage"
  # The packaged /etc/docker/registry/config.yml turns on htpasswd auth; tests need an open
  # registry, and deleting manifests lets tests check garbage and re-push behaviour.
  cat >"$REG_CONFIG" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REG_DIR/storage
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: $addr
  secret: immutable-build-local-tests
EOF
  local pid
  pid=$(start_daemon "$REG_LOG" docker-registry serve "$REG_CONFIG")
  echo "$pid" >"$REG_PIDFILE"
  wait_for_daemon 30 "registry on $addr" "$pid" "$REG_LOG" answers_v2 "$addr" || {
    stop_pidfile "$REG_PIDFILE" "$REG_CONFIG" registry || true; exit 1; }
  echo "$addr" >"$REG_ADDRFILE"
  info "registry listening on $addr (storage $REG_DIR/storage)"
  echo "$addr"
}

stop() {
  with_lock registry
  stop_pidfile "$REG_PIDFILE" "$REG_CONFIG" registry
  # Both files name an address that no longer answers.
  rm -f "$REG_ADDRFILE" "$RUN_DIR/bases.env"
}

env_cmd() {
  local addr
  addr=$(running_addr) || die "registry is not running; start it with $0 start"
  echo "IMMUTABLE_TEST_REGISTRY=$addr"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_cmd ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
