#!/usr/bin/env bash
# Stops everything this INFRA_DIR started: every dockerd instance (with its containers), the
# registry and prometheus, each by its recorded PID; then unmounts whatever is still mounted
# below INFRA_DIR or the engine exec roots, and reports leftovers (exit 1 if any remain).
# Data (registry storage, engine images, logs) stays in INFRA_DIR; delete it for a clean slate.
#
#   stop-all.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"

rc=0
# Engines are found from pidfiles, state dirs and exec roots alike, so one whose pidfile is
# gone still gets its containers and mounts cleaned up.
names=$(
  for f in "$RUN_DIR"/dockerd-*.pid; do [ -e "$f" ] && { f=${f##*/dockerd-}; echo "${f%.pid}"; }; done
  for d in "$INFRA_DIR"/docker-*/; do [ -d "$d" ] && { d=${d%/}; echo "${d##*/docker-}"; }; done
  for d in "$EXEC_ROOT_PREFIX"*/; do [ -d "$d" ] && { d=${d%/}; echo "${d#"$EXEC_ROOT_PREFIX"}"; }; done
  true
)
for name in $(sort -u <<<"$names"); do
  [[ $name =~ ^[a-z0-9]{1,12}$ ]] || continue
  "$INFRA_SCRIPTS/dockerd.sh" stop "$name" || rc=1
done
"$INFRA_SCRIPTS/registry.sh" stop || rc=1
"$INFRA_SCRIPTS/prometheus.sh" stop || rc=1
"$INFRA_SCRIPTS/moto.sh" stop || rc=1

umount_under "$INFRA_DIR" "$EXEC_ROOT_PREFIX"* || rc=1
for d in "$EXEC_ROOT_PREFIX"*/; do [ -d "$d" ] && { safe_rm_rf "$d" || rc=1; }; done

if ! "$INFRA_SCRIPTS/leftovers.sh"; then rc=1; fi
[ $rc -eq 0 ] && info "all infrastructure of $INFRA_DIR stopped"
exit $rc
