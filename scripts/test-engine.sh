#!/usr/bin/env bash
# Makes sure a Docker engine answers and that the stand-in base images the Docker tier builds FROM exist.
# Fresh Debian machine: installs docker.io, starts dockerd in the background, debootstraps a base image and builds
# the stand-ins from Debian packages (no registry is reachable). Second run: seconds, everything is cached.
#   MLC_STANDINS=debian,jupyter   build only these (default: debian,jupyter,pytorch,hep,atlas)
#   MLC_CACHE_DIR                 where the debootstrap rootfs tarball is kept (default ~/.cache/ml-containers)
set -euo pipefail
cd "$(dirname "$0")/.."

STANDINS=${MLC_STANDINS:-debian,jupyter,pytorch,hep,atlas}
CACHE=${MLC_CACHE_DIR:-$HOME/.cache/ml-containers}
MIRROR=${MLC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
LOG=${TMPDIR:-/tmp}/mlc-dockerd.log
# The 20.10 client has BuildKit built in; a newer client without the buildx plugin falls back to the legacy builder.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker || true)

log() { printf '[test-engine] %s\n' "$*"; }
engine_up() { [ -n "$DOCKER" ] && "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_engine() {
  if engine_up; then
    return 0
  fi
  if [ -n "${DOCKER_HOST:-}" ]; then
    log "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to let this script start a local engine"
    exit 1
  fi
  apt_install docker.io
  DOCKER=/usr/bin/docker
  log "starting dockerd (log: $LOG)"
  # No systemd here: dockerd runs detached so it outlives this script (and serves the tests that follow).
  as_root setsid nohup dockerd >"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    engine_up && return 0
    sleep 1
  done
  log "dockerd did not come up in 60 s; its log ends with:"
  tail -n 30 "$LOG" >&2 || true
  exit 1
}

has_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
wanted() { [[ ",$STANDINS," == *",$1,"* ]]; }

build_debian() {
  local image=mlc-test/debian:bookworm tarball=$CACHE/rootfs-bookworm.tar
  has_image "$image" && return 0
  if [ ! -s "$tarball" ]; then
    apt_install debootstrap
    local rootfs
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/mlc-rootfs.XXXXXX")
    log "debootstrap bookworm (minbase) from $MIRROR"
    as_root debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"${TMPDIR:-/tmp}/mlc-debootstrap.log" 2>&1 \
      || { tail -n 20 "${TMPDIR:-/tmp}/mlc-debootstrap.log" >&2; exit 1; }
    mkdir -p "$CACHE"
    as_root tar -C "$rootfs" -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
    as_root rm -rf "$rootfs"
  fi
  log "importing $image"
  "$DOCKER" import --change 'CMD ["bash"]' --change 'LABEL org.mlcontainers.standin=true' "$tarball" "$image" >/dev/null
}

build_standin() {
  local name=$1 image=mlc-test/$1:bookworm
  has_image "$image" && return 0
  log "building $image"
  local started=$SECONDS
  DOCKER_BUILDKIT=1 "$DOCKER" build -q -t "$image" "test/fixtures/standins/$name" >/dev/null
  log "built $image in $((SECONDS - started)) s"
}

start_engine
wanted debian && build_debian
wanted jupyter && build_standin jupyter
wanted pytorch && build_standin pytorch
wanted hep && build_standin hep
wanted atlas && build_standin atlas

log "engine $("$DOCKER" version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
"$DOCKER" images --filter label=org.mlcontainers.standin=true --format '[test-engine]   {{.Repository}}:{{.Tag}}  {{.Size}}'
