#!/usr/bin/env bash
# Offline base images for tests, pushed into the local test registry.
#
#   base-images.sh [busybox|dotnet|all]     (default: all)
#
# Images (REG = address from registry.sh, started if needed; VER = highest .NET runtime
# under $IMMUTABLE_DOTNET_DIR, default /usr/share/dotnet):
#   REG/base/busybox:1             static busybox, PATH=/bin, CMD /bin/sh
#   REG/base/dotnet:runtime-VER    Debian bookworm minbase + libicu72 libssl3 ca-certificates,
#                                  user app (1654), + the machine's Microsoft.NETCore.App VER
#   REG/base/dotnet:aspnet-VER     runtime-VER + Microsoft.AspNetCore.App VER
#
# Each image is built once and kept as an OCI image layout in $CACHE_DIR/bases/<key>; later
# runs only push (a few hundred ms), and the pushed manifests, hence digests, stay identical
# for as long as the cache lives. Delete the cache directory to rebuild.
#
# Writes $INFRA_DIR/run/bases.env (KEY=VALUE lines, no quoting) for every base present in the
# registry:
#   IMMUTABLE_TEST_REGISTRY, IMMUTABLE_TEST_DOTNET_VERSION,
#   IMMUTABLE_TEST_BASE_{BUSYBOX,RUNTIME,ASPNET} (references) and *_DIGEST (manifest digests).
#
# IMMUTABLE_DEBIAN_MIRROR overrides the mirror, which otherwise is the one apt uses here.
set -euo pipefail
source "$(dirname "$0")/common.sh"
# Layer entries keep the mode of the staging directories; a restrictive umask would make
# e.g. /usr unreadable for the image's non-root user.
umask 022

# Bump when the recipe changes, so existing caches are rebuilt rather than silently reused.
RECIPE=r1
SUITE=bookworm
APP_UID=1654
DOTNET_DIR=${IMMUTABLE_DOTNET_DIR:-/usr/share/dotnet}
BASES=$CACHE_DIR/bases
ARCH=$(dpkg --print-architecture)

what=${1:-all}
case "$what" in
  busybox | dotnet | all) ;;
  *) echo "usage: $0 [busybox|dotnet|all]" >&2; exit 2 ;;
esac

dotnet_version() {
  [ -d "$DOTNET_DIR/shared/Microsoft.NETCore.App" ] || die "no .NET runtime under $DOTNET_DIR/shared/Microsoft.NETCore.App"
  ls "$DOTNET_DIR/shared/Microsoft.NETCore.App" | sort -V | tail -1
}

# layout_has_tags <layout> <tag>...: a complete cached layout (moved in atomically) has them all.
layout_has_tags() {
  local layout=$1; shift
  [ -s "$layout/index.json" ] || return 1
  "$PYTHON" - "$layout/index.json" "$@" <<'PY'
import json, sys
names = {m.get("annotations", {}).get("org.opencontainers.image.ref.name") for m in json.load(open(sys.argv[1]))["manifests"]}
sys.exit(0 if set(sys.argv[2:]) <= names else 1)
PY
}

# The mirror apt is configured with: it is the one known to be reachable from this machine.
debian_mirror() {
  if [ -n "${IMMUTABLE_DEBIAN_MIRROR:-}" ]; then echo "$IMMUTABLE_DEBIAN_MIRROR"; return; fi
  "$PYTHON" - "$SUITE" <<'PY'
import glob, re, sys
suite = sys.argv[1]
ok = lambda u: re.match(r"(https?|file)://", u)
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(f).read()):
        kv = {k.lower(): v.strip() for k, v in re.findall(r"^([A-Za-z][\w-]*):(.*)$", stanza, re.M)}
        if kv.get("enabled", "yes").lower() == "no" or "deb" not in kv.get("types", "").split():
            continue
        if suite in kv.get("suites", "").split():
            for u in kv.get("uris", "").split():
                if ok(u):
                    print(u); sys.exit(0)
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try:
        lines = open(f).read().splitlines()
    except OSError:
        continue
    for line in lines:
        line = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(line) >= 3 and line[0] == "deb" and line[2] == suite and ok(line[1]):
            print(line[1]); sys.exit(0)
print("http://deb.debian.org/debian")
PY
}

# new_tmp <key>: a scratch dir next to the cache, so the finished layout can be renamed into
# place (atomic on one filesystem) and an interrupted build never looks like a cache entry.
TMPS=()
cleanup() { local t; for t in "${TMPS[@]}"; do safe_rm_rf "$t" || true; done; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Sets T rather than printing it: a $(...) subshell could not register the dir for cleanup.
new_tmp() {
  T=$(mktemp -d "$BASES/.tmp-$1.XXXXXX")
  TMPS+=("$T")
  chmod 755 "$T"
}

# finish <tmp-layout> <key>
finish() {
  umoci gc --layout "$1"
  mv -T "$1" "$BASES/$2"
}

build_busybox() {
  local key=$1 t root
  new_tmp "$key"; t=$T
  root=$t/rootfs
  mkdir -p "$root"/{bin,etc,root,tmp}
  chmod 1777 "$root/tmp"; chmod 700 "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  local a
  for a in sh cat cp echo env false hostname id ls mkdir mv nc ps pwd rm sleep test true uname wget; do
    ln -s busybox "$root/bin/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  umoci init --layout "$t/oci"
  umoci new --image "$t/oci:scratch"
  umoci insert --image "$t/oci:scratch" --tag 1 --history.created_by "busybox-static $(dpkg-query -W -f='${Version}' busybox-static)" "$root" /
  umoci config --image "$t/oci:1" --config.env PATH=/bin --config.cmd /bin/sh --config.workingdir /
  umoci rm --image "$t/oci:scratch"
  finish "$t/oci" "$key"
}

build_dotnet() {
  local key=$1 ver=$2 t root mirror
  [ -d "$DOTNET_DIR/shared/Microsoft.AspNetCore.App/$ver" ] || die "Microsoft.AspNetCore.App $ver is missing under $DOTNET_DIR (needed for the aspnet base)"
  mirror=$(debian_mirror)
  new_tmp "$key"; t=$T
  root=$t/rootfs
  info "debootstrap $SUITE from $mirror (log: $LOG_DIR/debootstrap.log)"
  debootstrap --variant=minbase --include=libicu72,libssl3,ca-certificates "$SUITE" "$root" "$mirror" \
    >"$LOG_DIR/debootstrap.log" 2>&1 || { tail -20 "$LOG_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
  # Trim what an image does not need; mirrors what the official slim images drop.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
  find "$root/var/log" -type f -delete
  # debootstrap copies the build host's resolver and name; the engine supplies both at run time.
  : >"$root/etc/resolv.conf"
  echo localhost >"$root/etc/hostname"
  # Same user as the official .NET images, so apps can switch to USER $APP_UID.
  chroot "$root" groupadd --gid "$APP_UID" app
  chroot "$root" useradd --no-log-init --uid "$APP_UID" --gid "$APP_UID" --create-home --shell /bin/sh app

  local rt=$t/runtime asp=$t/aspnet
  mkdir -p "$rt/usr/share/dotnet/shared/Microsoft.NETCore.App" "$rt/usr/bin" \
    "$asp/usr/share/dotnet/shared/Microsoft.AspNetCore.App"
  cp -a "$DOTNET_DIR/dotnet" "$DOTNET_DIR/host" "$DOTNET_DIR/LICENSE.txt" "$DOTNET_DIR/ThirdPartyNotices.txt" "$rt/usr/share/dotnet/"
  cp -a "$DOTNET_DIR/shared/Microsoft.NETCore.App/$ver" "$rt/usr/share/dotnet/shared/Microsoft.NETCore.App/"
  ln -s ../share/dotnet/dotnet "$rt/usr/bin/dotnet"
  cp -a "$DOTNET_DIR/shared/Microsoft.AspNetCore.App/$ver" "$asp/usr/share/dotnet/shared/Microsoft.AspNetCore.App/"
  # A user-local SDK install would otherwise leak its owner's uid into the image.
  chown -R 0:0 "$rt" "$asp"

  local L=$t/oci
  umoci init --layout "$L"
  umoci new --image "$L:scratch"
  umoci insert --image "$L:scratch" --tag base \
    --history.created_by "debootstrap --variant=minbase --include=libicu72,libssl3,ca-certificates $SUITE" "$root" /
  umoci config --image "$L:base" --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.cmd /bin/bash --config.workingdir /
  umoci insert --image "$L:base" --tag "runtime-$ver" --history.created_by "Microsoft.NETCore.App $ver" "$rt" /
  umoci config --image "$L:runtime-$ver" --config.env DOTNET_ROOT=/usr/share/dotnet \
    --config.env DOTNET_RUNNING_IN_CONTAINER=true --config.env "DOTNET_VERSION=$ver" --config.env "APP_UID=$APP_UID"
  umoci insert --image "$L:runtime-$ver" --tag "aspnet-$ver" --history.created_by "Microsoft.AspNetCore.App $ver" "$asp" /
  umoci config --image "$L:aspnet-$ver" --config.env "ASPNET_VERSION=$ver" --config.env ASPNETCORE_HTTP_PORTS=8080
  umoci rm --image "$L:scratch"
  finish "$L" "$key"
}

# ensure <kind> <key> <estimate> <tags...>: builds the cache entry unless complete.
ensure() {
  local kind=$1 key=$2 estimate=$3; shift 3
  layout_has_tags "$BASES/$key" "$@" && return 0
  # Serializes builds between INFRA_DIRs sharing one cache; the second waits and then reuses.
  exec 7>"$BASES/.lock"
  flock -w 1800 7 || die "timed out waiting for $BASES/.lock"
  if ! layout_has_tags "$BASES/$key" "$@"; then
    local t0 stale
    t0=$(now_ms)
    # Under the lock nobody else is building: any scratch dir is from an interrupted run.
    for stale in "$BASES"/.tmp-*; do [ -e "$stale" ] && { safe_rm_rf "$stale" || true; }; done
    [ -e "$BASES/$key" ] && { safe_rm_rf "$BASES/$key" || die "cannot replace incomplete $BASES/$key"; }
    # debootstrap and chroot need root, and layer entries record file owners, so a build
    # without root would yield different images. Pushing from the cache works for anyone.
    [ "$(id -u)" -eq 0 ] || die "building the $kind base needs root; run $0 once as root to fill $BASES"
    info "building $kind base (about $estimate, cached afterwards in $BASES/$key)"
    case "$kind" in
      busybox) require_pkgs umoci busybox-static; build_busybox "$key" ;;
      debian+dotnet) require_pkgs umoci debootstrap; build_dotnet "$key" "$ver" ;;
    esac
    info "built $kind base in $(seconds_since "$t0")"
  fi
  exec 7>&-
}

manifest_digest() {
  curl -sfI -m 10 \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REG/v2/$1/manifests/$2" | tr -d '\r' | awk 'tolower($1) == "docker-content-digest:" {print $2}'
}

# push <layout-key> <layout-tag> <repo> <tag>
PUSHED=()
push() {
  local ref=$REG/$3:$4
  skopeo copy -q --dest-tls-verify=false "oci:$BASES/$1:$2" "docker://$ref"
  PUSHED+=("$ref@$(manifest_digest "$3" "$4")")
}

require_pkgs skopeo curl
REG=$("$INFRA_SCRIPTS/registry.sh" start)
mkdir -p "$BASES"
ver=
if [ "$what" != busybox ]; then ver=$(dotnet_version); fi

busybox_key=busybox-$ARCH-$RECIPE
dotnet_key=$SUITE-dotnet-$ver-$ARCH-$RECIPE
if [ "$what" != dotnet ]; then ensure busybox "$busybox_key" "1 s" 1; fi
if [ "$what" != busybox ]; then ensure debian+dotnet "$dotnet_key" "40 s" "runtime-$ver" "aspnet-$ver"; fi

t0=$(now_ms)
if [ "$what" != dotnet ]; then push "$busybox_key" 1 base/busybox 1; fi
if [ "$what" != busybox ]; then
  push "$dotnet_key" "runtime-$ver" base/dotnet "runtime-$ver"
  push "$dotnet_key" "aspnet-$ver" base/dotnet "aspnet-$ver"
fi
info "pushed to $REG in $(seconds_since "$t0")"
printf '%s\n' "${PUSHED[@]}"

# Describe everything the registry holds, not just this run's images, so a later
# "base-images.sh busybox" does not hide the dotnet bases from tests.
[ -n "$ver" ] || ver=$(dotnet_version 2>/dev/null || true)
{
  echo "IMMUTABLE_TEST_REGISTRY=$REG"
  [ -z "$ver" ] || echo "IMMUTABLE_TEST_DOTNET_VERSION=$ver"
  for entry in "BUSYBOX base/busybox 1" "RUNTIME base/dotnet runtime-$ver" "ASPNET base/dotnet aspnet-$ver"; do
    read -r var repo tag <<<"$entry"
    digest=$(manifest_digest "$repo" "$tag" || true)
    [ -n "$digest" ] || continue
    echo "IMMUTABLE_TEST_BASE_$var=$REG/$repo:$tag"
    echo "IMMUTABLE_TEST_BASE_${var}_DIGEST=$digest"
  done
} >"$RUN_DIR/bases.env.$$"
mv -f "$RUN_DIR/bases.env.$$" "$RUN_DIR/bases.env"
