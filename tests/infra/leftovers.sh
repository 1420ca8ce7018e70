#!/usr/bin/env bash
# Lists what the infrastructure of this INFRA_DIR left behind: engine, registry and
# prometheus processes whose command line names INFRA_DIR, one of its engine exec roots or
# containerd namespaces, the processes of containers those engines still run, and mounts
# below INFRA_DIR or the exec roots. Exit status 1 if there is anything, 0 if clean, so CI can
# fail a job that leaks daemons.
#
#   leftovers.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"

found=0
procs=$("$PYTHON" - "$INFRA_DIR" "imb-$INFRA_ID-" <<'PY'
import os, sys
markers = sys.argv[1:]
daemons = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2",
           "docker-proxy", "docker-registry", "prometheus"}
procs = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        ppid = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
    except OSError:
        continue
    argv = [a.decode(errors="replace") for a in argv if a]
    if argv:
        procs[pid] = (ppid, argv)
ours = {pid for pid, (_, argv) in procs.items()
        if os.path.basename(argv[0]) in daemons and any(m in " ".join(argv) for m in markers)}
# A shim's children are container processes; their command lines name nothing of ours.
shims = {pid for pid in ours if "containerd-shim" in os.path.basename(procs[pid][1][0])}
ours |= {pid for pid, (ppid, _) in procs.items() if ppid in shims}
for pid in sorted(ours, key=int):
    print(f"{pid} {' '.join(procs[pid][1])}")
PY
)
if [ -n "$procs" ]; then
  echo "processes still running:"
  sed 's/^/  /' <<<"$procs"
  found=1
fi
mounts=$(mounts_under "$INFRA_DIR" "$EXEC_ROOT_PREFIX"* 2>/dev/null || true)
# The glob stays literal when no exec root exists; mounts_under then finds nothing for it.
if [ -n "$mounts" ]; then
  echo "still mounted:"
  sed 's/^/  /' <<<"$mounts"
  found=1
fi
exit $found
