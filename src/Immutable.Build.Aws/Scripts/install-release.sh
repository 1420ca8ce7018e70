# Installs one release on an EC2 instance (the renderer puts the release's variables above this line).
# MODE=bake: on a builder, pull the image by digest, keep it in the engine and as a tar on the disk, and enable the
# unit, so an instance from the AMI starts the release with no registry. MODE=boot: the same at first boot of the
# base AMI (quick mode). The unit reads the instance's group from its own tags at each start.
# Off EC2 (tests): IMMUTABLE_NO_SYSTEMD=1 starts the container directly, IMMUTABLE_STATE_ROOT prefixes every path,
# IMMUTABLE_CONTAINER_NAME replaces immutable-app so runs sharing an engine do not remove each other's container.
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
NAME="${IMMUTABLE_CONTAINER_NAME:-immutable-app}"
case "$NAME" in
  *[!A-Za-z0-9_.-]*|"") say "IMMUTABLE_CONTAINER_NAME must be letters, digits, '_', '.' or '-'"; exit 2 ;;
esac
ROOT="${IMMUTABLE_STATE_ROOT:-}"
ROOT="${ROOT%/}"
DOCKER="${DOCKER:-docker}"
HEX="${DIGEST#sha256:}"
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
$DOCKER pull -q "$IMAGE" >/dev/null
pulled="$($DOCKER image inspect --format '{{json .RepoDigests}}' "$IMAGE")"
case "$pulled" in
  *"$DIGEST"*) say "image $DIGEST is on the disk" ;;
  *) say "the registry answered another image than $DIGEST ($pulled)"; exit 3 ;;
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
  printf 'ASPNETCORE_URLS=http://0.0.0.0:%s\n' "$APP_PORT"
  printf 'ASPNETCORE_HTTP_PORTS=\n'
  printf 'ASPNETCORE_HTTPS_PORTS=\n'
} > "$CONF/release.env"
printf '%s\n' "$IMAGE" > "$CONF/image"
# A loaded tar gives the image back under its ID only, without the repository@digest it was pulled as: starting by
# that reference would then pull from the registry (or fail with none), so the start goes by ID.
$DOCKER image inspect --format '{{.Id}}' "$IMAGE" > "$CONF/image-id"

# At each start: the group from the instance's tags (IMDSv2; the launch template enables tags in metadata), the image
# from the tar when the engine lost it.
cat > "$CONF/start.sh" <<'START'
#!/bin/sh
set -eu
CONF="$(dirname "$0")"
STORE="${CONF%/etc/immutable}/var/lib/immutable"
DOCKER="${DOCKER:-docker}"
IMAGE="$(cat "$CONF/image")"
ID="$(cat "$CONF/image-id")"
NAME="${IMMUTABLE_CONTAINER_NAME:-immutable-app}"
GROUP="${IMMUTABLE_GROUP:-}"
if [ -z "$GROUP" ] && command -v curl >/dev/null 2>&1; then
  token="$(curl -sf -m 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token || true)"
  [ -n "$token" ] && GROUP="$(curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/tags/instance/immutable.group || true)"
fi
if ! $DOCKER image inspect "$ID" >/dev/null 2>&1; then
  hex="${IMAGE##*@sha256:}"
  if [ -f "$STORE/$hex.tar" ]; then
    $DOCKER load -q -i "$STORE/$hex.tar" >/dev/null
  else
    # quick mode keeps no tar: the registry is the only copy
    $DOCKER pull -q "$IMAGE" >/dev/null
  fi
fi
$DOCKER rm -f "$NAME" >/dev/null 2>&1 || true
exec $DOCKER run ${IMMUTABLE_DETACH:+-d} --name "$NAME" --network host --init --restart "${IMMUTABLE_RESTART:-no}" \
  --env-file "$CONF/release.env" -e "IMMUTABLE_GROUP=$GROUP" "$ID"
START
chmod 755 "$CONF/start.sh"

if [ "${IMMUTABLE_NO_SYSTEMD:-}" = "1" ]; then
  say "starting the release directly (no systemd)"
  IMMUTABLE_DETACH=1 IMMUTABLE_RESTART=unless-stopped IMMUTABLE_GROUP="$GROUP" "$CONF/start.sh" >/dev/null
else
  cat > "$UNIT_DIR/immutable-app.service" <<UNIT
[Unit]
Description=$APP release $RELEASE_ID ($DIGEST)
After=docker.service network-online.target
Requires=docker.service
Wants=network-online.target

[Service]
Environment=IMMUTABLE_CONTAINER_NAME=$NAME
ExecStart=/etc/immutable/start.sh
ExecStop=/usr/bin/docker stop -t 30 $NAME
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable immutable-app.service >/dev/null
  if [ "$MODE" = "boot" ]; then
    systemctl start immutable-app.service
  fi
fi
say "release $RELEASE_ID installed ($MODE)"
