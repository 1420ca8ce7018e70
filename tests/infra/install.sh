#!/usr/bin/env bash
# Installs the Debian packages the tests start by hand (registry, Docker engine, base-image tools,
# Prometheus, wrk for the proxy load tests), when they are missing. Needs root for apt-get; without root it lists what is missing.
set -euo pipefail
packages=(docker.io docker-registry debootstrap umoci skopeo busybox-static prometheus curl git python3 wrk)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test infrastructure packages: all present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages for the tests: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing test infrastructure packages: ${missing[*]}"
apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
# The packages' maintainer scripts would start system services (dockerd, prometheus, registry) through
# their init scripts; the tests start their own, so service starts are refused for the install.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
fi
trap '[ $own_policy = 1 ] && rm -f "$policy"' EXIT
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
