#!/usr/bin/env bash
# Prometheus (Debian package, run by hand without systemd) scraping given targets every second.
#
#   prometheus.sh start [host:port]...   start, or reuse/reconfigure the running instance;
#                                        prints the address
#   prometheus.sh stop                   stop it
#   prometheus.sh env                    print IMMUTABLE_TEST_PROMETHEUS=<host:port>
#
# Targets are scraped at http://<host:port>/metrics under job "immutable-test". Starting with
# a different target list reloads the running server (SIGHUP) instead of restarting it, so
# the address stays the same; a fresh start begins with empty storage so queries never see
# series from an earlier run. Listens on 127.0.0.1:$PROMETHEUS_PORT, or a free port. The
# address is written to $INFRA_DIR/run/prometheus.addr.
set -euo pipefail
source "$(dirname "$0")/common.sh"

P_DIR=$INFRA_DIR/prometheus
P_CONFIG=$P_DIR/prometheus.yml
P_PIDFILE=$RUN_DIR/prometheus.pid
P_ADDRFILE=$RUN_DIR/prometheus.addr
P_LOG=$LOG_DIR/prometheus.log
JOB=immutable-test

ready() { curl -sf -m 2 -o /dev/null "http://$1/-/ready"; }

running_addr() {
  pidfile_alive "$P_PIDFILE" "$P_CONFIG" || return 1
  [ -s "$P_ADDRFILE" ] || return 1
  local addr
  addr=$(<"$P_ADDRFILE")
  ready "$addr" || return 1
  echo "$addr"
}

write_config() {
  local t list=
  for t in "$@"; do list+="${list:+, }'$t'"; done
  mkdir -p "$P_DIR"
  cat >"$P_CONFIG.$$" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: $JOB
    metrics_path: /metrics
    scheme: http
    static_configs:
      - targets: [$list]
EOF
  promtool check config "$P_CONFIG.$$" >"$LOG_DIR/promtool.log" 2>&1 || { cat "$LOG_DIR/promtool.log" >&2; die "invalid prometheus config"; }
  mv -f "$P_CONFIG.$$" "$P_CONFIG"
}

# has_targets <addr> <target>...: the server scrapes exactly this set and has tried each one
# at least once. Prometheus applies target changes only every 5 s, so without this wait a test
# querying right after start would find no "up" series at all.
has_targets() {
  local addr=$1; shift
  curl -sf -m 2 "http://$addr/api/v1/targets" | "$PYTHON" -c '
import json, sys
active = json.load(sys.stdin)["data"]["activeTargets"]
scraped = all(not t["lastScrape"].startswith("0001-") for t in active)
sys.exit(0 if scraped and {t["labels"]["instance"] for t in active} == set(sys.argv[1:]) else 1)' "$@"
}

start() {
  local t
  for t in "$@"; do [[ $t =~ ^[^[:space:]/\']+:[0-9]+$ ]] || die "scrape target must be host:port, got '$t'"; done
  require_pkgs prometheus curl
  with_lock prometheus
  local addr wanted
  wanted=$(printf '%s\n' "$@" | sort -u)
  if addr=$(running_addr) && { [ -z "${PROMETHEUS_PORT:-}" ] || [ "$addr" = "127.0.0.1:$PROMETHEUS_PORT" ]; }; then
    if [ "$wanted" != "$(cat "$RUN_DIR/prometheus.targets" 2>/dev/null || true)" ]; then
      write_config "$@"
      kill -HUP "$(<"$P_PIDFILE")"
      wait_for 20 "prometheus to reload its targets" has_targets "$addr" "$@" || die "prometheus did not pick up the new targets; see $P_LOG"
      echo "$wanted" >"$RUN_DIR/prometheus.targets"
      info "prometheus on $addr now scrapes: ${*:-nothing}"
    fi
    echo "$addr"; return 0
  fi
  stop_pidfile "$P_PIDFILE" "$P_CONFIG" prometheus
  rm -f "$P_ADDRFILE" "$RUN_DIR/prometheus.targets"

  local port=${PROMETHEUS_PORT:-$(free_port)}
  port_free "$port" || die "127.0.0.1:$port is already in use (PROMETHEUS_PORT=${PROMETHEUS_PORT:-})"
  addr=127.0.0.1:$port
  write_config "$@"
  rm -rf "$P_DIR/data"
  mkdir -p "$P_DIR/data"
  local pid
  pid=$(start_daemon "$P_LOG" prometheus \
    --config.file="$P_CONFIG" \
    --storage.tsdb.path="$P_DIR/data" \
    --storage.tsdb.retention.time=1d \
    --web.listen-address="$addr")
  echo "$pid" >"$P_PIDFILE"
  wait_for_daemon 60 "prometheus on $addr" "$pid" "$P_LOG" ready "$addr" || {
    stop_pidfile "$P_PIDFILE" "$P_CONFIG" prometheus || true; exit 1; }
  wait_for 20 "prometheus to scrape its targets" has_targets "$addr" "$@" || {
    stop_pidfile "$P_PIDFILE" "$P_CONFIG" prometheus || true; die "prometheus did not activate its targets; see $P_LOG"; }
  echo "$addr" >"$P_ADDRFILE"
  echo "$wanted" >"$RUN_DIR/prometheus.targets"
  info "prometheus listening on $addr, scraping: ${*:-nothing}"
  echo "$addr"
}

stop() {
  with_lock prometheus
  stop_pidfile "$P_PIDFILE" "$P_CONFIG" prometheus
  rm -f "$P_ADDRFILE" "$RUN_DIR/prometheus.targets"
}

env_cmd() {
  local addr
  addr=$(running_addr) || die "prometheus is not running; start it with $0 start <host:port>..."
  echo "IMMUTABLE_TEST_PROMETHEUS=$addr"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  env) env_cmd ;;
  *) echo "usage: $0 start [host:port]... | stop | env" >&2; exit 2 ;;
esac
