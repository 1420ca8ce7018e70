# Installs one release on an EC2 instance (the renderer puts the release's variables above this line).
# MODE=bake: on a builder, pull the image by digest, keep it in the engine and as a tar on the disk, and enable the
# unit, so an instance from the AMI starts the release with no registry. MODE=boot: the same at first boot of the
# base AMI (quick mode). The instance's group comes from /etc/immutable/instance.env when the user data wrote one,
# else from the instance's own tags at each start.
# Off EC2 (tests): IMMUTABLE_NO_SYSTEMD=1 starts the container directly (the unit is still written, not enabled),
# IMMUTABLE_STATE_ROOT prefixes every path, IMMUTABLE_CONTAINER_NAME replaces immutable-app so runs sharing an
# engine do not remove each other's container, IMMUTABLE_BIND_ADDRESS keeps the app off the host's other interfaces.
set -eu

say() { printf 'immutable: %s\n' "$*"; }
# A line break in a value would add lines to release.env (the app's environment) and to the unit (directives run
# as root): quoting keeps the values out of this shell, not out of those files.
nl='
'
cr="$(printf '\r')"
for value in "$IMAGE" "$DIGEST" "$APP_PORT" "$RELEASE_ID" "$COMMIT" "$APP" "$ENVIRONMENT" "$GROUP" "$MODE"; do
  case "$value" in
    *"$nl"*|*"$cr"*) say "a release value holds a line break; refusing to install"; exit 2 ;;
  esac
done
# DIGEST names files and IMAGE goes into the unit, where systemd would expand % and join a line ending in \.
case "$DIGEST" in
  sha256:*) ;;
  *) say "DIGEST must be sha256:<64 hex digits>"; exit 2 ;;
esac
HEX="${DIGEST#sha256:}"
case "$HEX" in
  *[!0-9a-f]*) say "DIGEST must be sha256:<64 hex digits>"; exit 2 ;;
esac
if [ "${#HEX}" -ne 64 ]; then say "DIGEST must be sha256:<64 hex digits>"; exit 2; fi
case "$IMAGE" in
  *[!A-Za-z0-9._/:@-]*) say "IMAGE is not an image reference"; exit 2 ;;
  *"@$DIGEST") ;;
  *) say "IMAGE must name the release by its digest (...@$DIGEST), never by a tag"; exit 2 ;;
esac
case "$APP_PORT" in
  ""|*[!0-9]*) say "APP_PORT must be a port number"; exit 2 ;;
esac
if [ "$APP_PORT" -lt 1 ] || [ "$APP_PORT" -gt 65535 ]; then say "APP_PORT must be a port number"; exit 2; fi
case "$MODE" in
  bake|boot) ;;
  *) say "MODE must be bake or boot"; exit 2 ;;
esac
BIND="${IMMUTABLE_BIND_ADDRESS:-0.0.0.0}"
case "$BIND" in
  *[!0-9.]*|"") say "IMMUTABLE_BIND_ADDRESS must be an IPv4 address"; exit 2 ;;
esac
NAME="${IMMUTABLE_CONTAINER_NAME:-immutable-app}"
case "$NAME" in
  *[!A-Za-z0-9_.-]*|"") say "IMMUTABLE_CONTAINER_NAME must be letters, digits, '_', '.' or '-'"; exit 2 ;;
esac
ROOT="${IMMUTABLE_STATE_ROOT:-}"
ROOT="${ROOT%/}"
DOCKER="${DOCKER:-docker}"
CONF="$ROOT/etc/immutable"
STORE="$ROOT/var/lib/immutable"
UNIT_DIR="$ROOT/etc/systemd/system"

if ! command -v "${DOCKER%% *}" >/dev/null 2>&1; then
  say "installing docker"
  if command -v dnf >/dev/null 2>&1; then dnf install -y -q docker; else yum install -y -q docker; fi
fi
if [ "${IMMUTABLE_NO_SYSTEMD:-}" != "1" ]; then
  systemctl enable --now docker >/dev/null
fi

say "pulling $IMAGE"
if ! $DOCKER pull -q "$IMAGE" >/dev/null; then say "could not pull $IMAGE"; exit 3; fi
# The engine lists a digest reference under its own spelling of the repository (docker.io/library/x is x), so the
# check is on the digest each entry ends with.
pulled="$($DOCKER image inspect --format '{{json .RepoDigests}}' "$IMAGE")"
case "$pulled" in
  *"@$DIGEST\""*) say "image $DIGEST is on the disk" ;;
  *) say "the engine holds another image than $DIGEST under $IMAGE ($pulled)"; exit 3 ;;
esac

mkdir -p "$CONF" "$STORE" "$UNIT_DIR"
if [ "$MODE" = "bake" ]; then
  say "saving the image to $STORE/$HEX.tar"
  $DOCKER save -o "$STORE/$HEX.tar.part" "$IMAGE"
  mv "$STORE/$HEX.tar.part" "$STORE/$HEX.tar"
fi

# The release identity the app reports at /version, and what the unit runs.
{
  printf 'IMMUTABLE_RELEASE_ID=%s\n' "$RELEASE_ID"
  printf 'IMMUTABLE_COMMIT=%s\n' "$COMMIT"
  printf 'IMMUTABLE_IMAGE_DIGEST=%s\n' "$DIGEST"
  printf 'IMMUTABLE_APP=%s\n' "$APP"
  printf 'IMMUTABLE_ENVIRONMENT=%s\n' "$ENVIRONMENT"
  printf 'ASPNETCORE_URLS=http://%s:%s\n' "$BIND" "$APP_PORT"
  printf 'ASPNETCORE_HTTP_PORTS=\n'
  printf 'ASPNETCORE_HTTPS_PORTS=\n'
} > "$CONF/release.env"
printf '%s\n' "$IMAGE" > "$CONF/image"
# A group known at install (quick mode) outlives reboots here; a bake leaves none, so each instance of the AMI
# takes its own (written by its user data, else read from its tags).
if [ -n "$GROUP" ]; then
  printf 'IMMUTABLE_GROUP=%s\n' "$GROUP" > "$CONF/instance.env"
else
  rm -f "$CONF/instance.env"
fi
# A loaded tar gives the image back under its ID only, without the repository@digest it was pulled as: starting by
# that reference would then pull from the registry (or fail with none), so the start goes by ID.
$DOCKER image inspect --format '{{.Id}}' "$IMAGE" > "$CONF/image-id"

# At each start: the group from the instance's tags (IMDSv2; the launch template enables tags in metadata), the image
# from the tar when the engine lost it.
cat > "$CONF/start.sh" <<'START'
#!/bin/sh
# start.sh load: the image from the tar when the engine lost it (the registry only when there is no tar);
# start.sh run: the container in the foreground, for systemd to watch; no argument: both.
set -eu
CONF="$(dirname "$0")"
STORE="${CONF%/etc/immutable}/var/lib/immutable"
DOCKER="${DOCKER:-docker}"
IMAGE="$(cat "$CONF/image")"
ID="$(cat "$CONF/image-id")"
NAME="${IMMUTABLE_CONTAINER_NAME:-immutable-app}"
step="${1:-all}"
if [ "$step" != run ] && ! $DOCKER image inspect "$ID" >/dev/null 2>&1; then
  hex="${IMAGE##*@sha256:}"
  if [ -f "$STORE/$hex.tar" ]; then
    echo "immutable: loading $STORE/$hex.tar"
    $DOCKER load -q -i "$STORE/$hex.tar" >/dev/null
  else
    echo "immutable: pulling $IMAGE (no tar on the disk)"
    $DOCKER pull -q "$IMAGE" >/dev/null
  fi
fi
[ "$step" = load ] && exit 0
GROUP=""
if [ -f "$CONF/instance.env" ]; then
  GROUP="$(sed -n 's/^IMMUTABLE_GROUP=//p' "$CONF/instance.env")"
elif command -v curl >/dev/null 2>&1; then
  token="$(curl -sf -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token || true)"
  if [ -n "$token" ]; then
    GROUP="$(curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/tags/instance/immutable.group || true)"
  fi
fi
$DOCKER rm -f "$NAME" >/dev/null 2>&1 || true
exec $DOCKER run ${IMMUTABLE_DETACH:+-d} --name "$NAME" --network host --init --restart "${IMMUTABLE_RESTART:-no}" \
  --env-file "$CONF/release.env" -e "IMMUTABLE_GROUP=$GROUP" "$ID"
START
chmod 755 "$CONF/start.sh"

# The unit names the release by digest only: what it starts is fixed at install, whatever a tag points at later.
# A load of the tar on a small instance outlasts systemd's default 90 s start timeout.
cat > "$UNIT_DIR/immutable-app.service" <<UNIT
[Unit]
Description=Immutable release $IMAGE
After=docker.service network-online.target
Requires=docker.service
Wants=network-online.target

[Service]
Environment=IMMUTABLE_CONTAINER_NAME=$NAME
ExecStartPre=/etc/immutable/start.sh load
ExecStart=/etc/immutable/start.sh run
ExecStop=/usr/bin/docker stop -t 30 $NAME
TimeoutStartSec=600
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT

if [ "${IMMUTABLE_NO_SYSTEMD:-}" = "1" ]; then
  say "starting the release directly (no systemd)"
  IMMUTABLE_DETACH=1 IMMUTABLE_RESTART=unless-stopped "$CONF/start.sh" >/dev/null
else
  systemctl daemon-reload
  systemctl enable immutable-app.service >/dev/null
  if [ "$MODE" = "boot" ]; then
    say "starting immutable-app.service"
    systemctl restart immutable-app.service
  fi
fi
say "release $RELEASE_ID installed ($MODE)"
