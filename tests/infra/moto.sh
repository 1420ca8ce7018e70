#!/usr/bin/env bash
# moto (the AWS emulator, installed on these machines as moto_server) on a loopback port, for
# the EC2 target's tests: EC2, SSM and ELBv2 answer there; nothing runs on its instances.
#
#   moto.sh start    start, or reuse the running server; prints its URL
#   moto.sh reset    forget every resource (POST /moto-api/reset)
#   moto.sh stop     stop it
#   moto.sh env      print IMMUTABLE_TEST_MOTO=<url>
#
# Listens on 127.0.0.1:$MOTO_PORT, or a free port. The URL is written to $INFRA_DIR/run/moto.url.
set -euo pipefail
source "$(dirname "$0")/common.sh"

M_PIDFILE=$RUN_DIR/moto.pid
M_URLFILE=$RUN_DIR/moto.url
M_LOG=$LOG_DIR/moto.log

ready() { curl -sf -m 2 -o /dev/null "$1/moto-api/"; }

running_url() {
  pidfile_alive "$M_PIDFILE" moto_server || return 1
  [ -s "$M_URLFILE" ] || return 1
  local url
  url=$(<"$M_URLFILE")
  ready "$url" || return 1
  echo "$url"
}

start() {
  require_pkgs curl
  command -v moto_server >/dev/null || die "moto_server is not on PATH: install moto 5 with its server extra (pip install 'moto[server]')"
  with_lock moto
  local url
  if url=$(running_url); then echo "$url"; return 0; fi
  stop_pidfile "$M_PIDFILE" moto_server moto
  rm -f "$M_URLFILE"
  local port=${MOTO_PORT:-$(free_port)}
  port_free "$port" || die "127.0.0.1:$port is already in use (MOTO_PORT=${MOTO_PORT:-})"
  url=http://127.0.0.1:$port
  local pid
  pid=$(start_daemon "$M_LOG" moto_server -H 127.0.0.1 -p "$port")
  echo "$pid" >"$M_PIDFILE"
  wait_for_daemon 60 "moto on $url" "$pid" "$M_LOG" ready "$url" || {
    stop_pidfile "$M_PIDFILE" moto_server moto || true; exit 1; }
  echo "$url" >"$M_URLFILE"
  info "moto listening on $url"
  echo "$url"
}

reset() {
  local url
  url=$(running_url) || die "moto is not running; start it with $0 start"
  curl -sf -m 10 -X POST -o /dev/null "$url/moto-api/reset" || die "moto did not reset"
}

stop() {
  with_lock moto
  stop_pidfile "$M_PIDFILE" moto_server moto
  rm -f "$M_URLFILE"
}

env_cmd() {
  local url
  url=$(running_url) || die "moto is not running; start it with $0 start"
  echo "IMMUTABLE_TEST_MOTO=$url"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) start ;;
  reset) reset ;;
  stop) stop ;;
  env) env_cmd ;;
  *) echo "usage: $0 start | reset | stop | env" >&2; exit 2 ;;
esac
