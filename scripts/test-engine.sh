#!/usr/bin/env bash
# Makes sure a Docker engine answers, that the stand-in base images the Docker tier builds FROM exist, and that the
# registry the push tests start is installed (scripts/test-registry.sh): everything the Docker tier needs.
# Fresh Debian machine: installs docker.io, starts dockerd in the background (it outlives this script), debootstraps
# a base image and builds the stand-ins from Debian packages (no registry or PyPI is reachable). Second run: seconds.
#
#   scripts/test-engine.sh [--images debian,jupyter,...]
#   MLC_STANDINS=debian,jupyter   same as --images (default: debian,jupyter,pytorch,hep,atlas); parents come along
#   MLC_CACHE_DIR                 where the debootstrap rootfs tarball is kept (default ~/.cache/ml-containers)
#   MLC_STANDIN_REPO              repository the stand-ins are tagged under (default mlc-test)
#   DOCKER_HOST                   honoured; when set, this script checks that engine and never starts one
set -euo pipefail
cd "$(dirname "$0")/.."

ALL=debian,jupyter,pytorch,hep,atlas
STANDINS=${MLC_STANDINS:-$ALL}
while [ $# -gt 0 ]; do
  case $1 in
    --images) STANDINS=${2:?--images needs a comma list}; shift 2 ;;
    --images=*) STANDINS=${1#--images=}; shift ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "test-engine: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
REPO=${MLC_STANDIN_REPO:-mlc-test}
CACHE=${MLC_CACHE_DIR:-$HOME/.cache/ml-containers}
MIRROR=${MLC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
TMP=${TMPDIR:-/tmp}
LOG=$TMP/mlc-dockerd.log
export DEBIAN_FRONTEND=noninteractive

log() { printf '[test-engine] %s\n' "$*"; }
die() { printf '[test-engine] %s\n' "$*" >&2; exit 1; }
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

# The 20.10 client (Debian's docker.io) has BuildKit built in; the newer /usr/local/bin one lacks the buildx plugin.
pick_client() {
  DOCKER=/usr/bin/docker
  [ -x "$DOCKER" ] || DOCKER=$(command -v docker || true)
}
pick_client
engine_up() { [ -n "$DOCKER" ] && "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_engine() {
  engine_up && return 0
  [ -z "${DOCKER_HOST:-}" ] || die "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to let this script start a local engine"
  apt_install docker.io
  pick_client
  engine_up && return 0 # the package's service may have started it (a machine with systemd)
  log "starting dockerd (log: $LOG)"
  # No systemd here: dockerd runs in its own session, detached from this script's terminal and pipes, so it
  # outlives the script and serves the tests that follow.
  ${SUDO[@]+"${SUDO[@]}"} setsid nohup dockerd >"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    engine_up && return 0
    sleep 1
  done
  tail -n 30 "$LOG" >&2 || true
  die "dockerd did not answer within 60 s (log above; full log $LOG)"
}

has_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

build_debian() {
  local image=$REPO/debian:bookworm tarball=$CACHE/rootfs-bookworm.tar
  has_image "$image" && return 0
  if [ ! -s "$tarball" ]; then
    apt_install debootstrap
    ROOTFS=$(mktemp -d "$TMP/mlc-rootfs.XXXXXX")
    trap 'as_root rm -rf "$ROOTFS"' EXIT
    log "debootstrap bookworm (minbase) from $MIRROR"
    local started=$SECONDS
    as_root debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$TMP/mlc-debootstrap.log" 2>&1 \
      || { tail -n 20 "$TMP/mlc-debootstrap.log" >&2; die "debootstrap failed (log $TMP/mlc-debootstrap.log)"; }
    mkdir -p "$CACHE"
    as_root tar -C "$ROOTFS" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    as_root rm -rf "$ROOTFS"
    trap - EXIT
    log "rootfs cached at $tarball ($((SECONDS - started)) s)"
  fi
  log "importing $image"
  "$DOCKER" import --change 'CMD ["bash"]' --change 'LABEL org.mlcontainers.standin=true' "$tarball" "$image" >/dev/null
}

# The Dockerfiles need no BuildKit feature; a client without BuildKit (no buildx) uses the classic builder.
buildkit() {
  if [ "$DOCKER" = /usr/bin/docker ] || "$DOCKER" buildx version >/dev/null 2>&1; then echo 1; else echo 0; fi
}

# A stand-in is labelled with the hash of its Dockerfile and its parent's image id: one whose Dockerfile or parent
# changed since it was built (a package added) is built again, so an engine set up before the change gets it too.
STANDIN_HASH_LABEL=org.mlcontainers.standin.dockerfile
standin_current() {
  [ "$("$DOCKER" image inspect --format "{{ index .Config.Labels \"$STANDIN_HASH_LABEL\" }}" "$1" 2>/dev/null)" = "$2" ]
}

build_standin() {
  local name=$1 base=$2 image=$REPO/$1:bookworm hash
  hash=$({ cat "test/fixtures/standins/$name/Dockerfile"; "$DOCKER" image inspect --format '{{.Id}}' "$base"; } | sha256sum | cut -c1-64)
  standin_current "$image" "$hash" && return 0
  has_image "$image" && log "$image was built from an older Dockerfile: building it again"
  log "building $image FROM $base"
  local started=$SECONDS out
  if ! out=$(DOCKER_BUILDKIT=$(buildkit) "$DOCKER" build --build-arg "BASE_IMAGE=$base" --label "$STANDIN_HASH_LABEL=$hash" \
    -t "$image" "test/fixtures/standins/$name" 2>&1); then
    printf '%s\n' "$out" | tail -n 40 >&2
    die "building $image failed"
  fi
  log "built $image in $((SECONDS - started)) s"
}

# Each stand-in with its parent; asking for one builds what it stands on.
parent() {
  case $1 in
    debian) echo '' ;;
    jupyter) echo debian ;;
    pytorch | hep | atlas) echo jupyter ;;
    *) die "unknown stand-in '$1' (known: $ALL)" ;;
  esac
}
ensure() {
  local name=$1 up
  up=$(parent "$name")
  if [ -z "$up" ]; then
    build_debian
  else
    ensure "$up"
    build_standin "$name" "$REPO/$up:bookworm"
  fi
}

started=$SECONDS
start_engine
IFS=, read -r -a wanted <<<"$STANDINS"
for name in "${wanted[@]}"; do
  [ -n "$name" ] && ensure "$name"
done

log "engine: $("$DOCKER" version --format 'Docker {{.Server.Version}} (API {{.Server.APIVersion}})'), via ${DOCKER_HOST:-unix:///var/run/docker.sock}"
for name in "${wanted[@]}"; do
  [ -n "$name" ] || continue
  line=$("$DOCKER" images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' "$REPO/$name:bookworm")
  log "  ${line:-$REPO/$name:bookworm  MISSING}"
done
# The push, private-base and --latest tests run their own registries from these binaries.
bash scripts/test-registry.sh
log "ready in $((SECONDS - started)) s"
