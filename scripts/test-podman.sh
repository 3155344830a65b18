#!/usr/bin/env bash
# Makes sure Podman's Docker-compatible API answers on a socket and holds the stand-in images the Docker tier builds
# FROM, so the same tier can run against Podman: DOCKER_HOST=unix:///run/podman/podman.sock npm run test:docker.
# Fresh Debian 12 machine: installs podman (4.3) with runc and catatonit, writes /etc/containers/containers.conf,
# starts `podman system service` in the background (it outlives this script) and copies the stand-ins over from
# the Docker engine (scripts/test-engine.sh builds them there). Second run: seconds.
#
#   scripts/test-podman.sh
#   MLC_PODMAN_SOCKET   where the API listens (default /run/podman/podman.sock, the podman CLI's own default)
#   MLC_STANDINS        stand-ins to copy (default: debian,jupyter,pytorch); missing ones are built on Docker first
#   MLC_STANDIN_REPO    repository the stand-ins are tagged under (default mlc-test)
#
# Never changes the Docker engine's networking: Podman uses its own bridge (podman0, 10.88.0.0/16) through netavark.
set -euo pipefail
cd "$(dirname "$0")/.."

SOCKET=${MLC_PODMAN_SOCKET:-/run/podman/podman.sock}
STANDINS=${MLC_STANDINS:-debian,jupyter,pytorch}
REPO=${MLC_STANDIN_REPO:-mlc-test}
TMP=${TMPDIR:-/tmp}
LOG=$TMP/mlc-podman-service.log
PIDFILE=$TMP/mlc-podman-service.pid
CONF=/etc/containers/containers.conf
case ${1:-} in -h | --help) sed -n '2,13p' "$0"; exit 0 ;; '') ;; *) echo "test-podman: unknown argument $1" >&2; exit 2 ;; esac

log() { printf '[test-podman] %s\n' "$*"; }
die() { printf '[test-podman] %s\n' "$*" >&2; exit 1; }
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

# podman 4.3 looks for /usr/libexec/podman/catatonit whenever a container asks for an init (mlc run/up send
# HostConfig.Init); Debian's tini satisfies the Recommends but is not looked for.
# Recommends kept: buildah comes as podman's, and the compat /build endpoint needs it.
apt_install --recommends podman buildah uidmap slirp4netns fuse-overlayfs crun runc catatonit

# What makes podman run on a host without CAP_SYS_RESOURCE and with hybrid cgroups (no systemd); harmless elsewhere:
# - default_ulimits: podman's root default nofile=1048576 (and nproc=1048576 once any ulimit is set) cannot be
#   applied where the hard limits are lower; these are at or below the usual limits.
# - runc: crun 1.8 refuses hybrid cgroup layouts ("cgroups in hybrid mode not supported").
# - cgroupfs and file events: there is no systemd to ask.
WANT_CONF='# Written by ml-containers scripts/test-podman.sh
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"'
conf_changed=0
if [ "$(cat "$CONF" 2>/dev/null)" != "$WANT_CONF" ]; then
  if [ -s "$CONF" ] && ! grep -q 'ml-containers scripts/test-podman.sh' "$CONF"; then
    die "$CONF exists and was not written by this script; merge these settings into it by hand:
$WANT_CONF"
  fi
  as_root mkdir -p "$(dirname "$CONF")"
  printf '%s\n' "$WANT_CONF" | as_root tee "$CONF" >/dev/null
  conf_changed=1
  log "wrote $CONF"
fi

api_up() { curl -fsS --max-time 5 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }

# A service this script started earlier is restarted after a config change (podman reads it at start only).
if [ "$conf_changed" = 1 ] && [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  log "restarting the API service (pid $(cat "$PIDFILE")) for the new config"
  as_root kill "$(cat "$PIDFILE")"
  for _ in $(seq 1 20); do api_up || break; sleep 0.5; done
fi
if ! api_up; then
  [ -S "$SOCKET" ] && as_root rm -f "$SOCKET" # left by a service that is gone
  as_root mkdir -p "$(dirname "$SOCKET")"
  log "starting podman system service on unix://$SOCKET (log: $LOG)"
  # No systemd here: the service runs in its own session, detached from this script's terminal and pipes, so it
  # outlives the script and serves the tests that follow. --time=0: never exit for idleness.
  ${SUDO[@]+"${SUDO[@]}"} setsid nohup podman system service --time=0 "unix://$SOCKET" >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 60); do
    api_up && break
    sleep 0.5
  done
  api_up || { tail -n 30 "$LOG" >&2 || true; die "podman system service did not answer within 30 s (log above)"; }
fi

# The stand-ins are built once, on Docker (no registry is reachable); copy each over unless podman holds the same
# image already (docker save | podman load keeps the image ID).
IFS=, read -r -a wanted <<<"$STANDINS"
need=()
for name in "${wanted[@]}"; do [ -n "$name" ] && need+=("$name"); done
if ! docker image inspect "$REPO/debian:bookworm" >/dev/null 2>&1; then
  MLC_STANDINS=$STANDINS bash scripts/test-engine.sh
fi
for name in "${need[@]}"; do
  image=$REPO/$name:bookworm
  docker image inspect "$image" >/dev/null 2>&1 || MLC_STANDINS=$name bash scripts/test-engine.sh
  want=$(docker image inspect --format '{{.Id}}' "$image")
  have=$(as_root podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  [ "sha256:${have#sha256:}" = "$want" ] && continue
  log "copying $image from Docker to Podman"
  started=$SECONDS
  docker save "$image" | as_root podman load -q >/dev/null
  log "copied $image in $((SECONDS - started)) s"
done

log "engine: $(curl -fsS --unix-socket "$SOCKET" http://d/version | grep -o '"Version":"[^"]*"' | head -1 | cut -d'"' -f4 | sed 's/^/Podman /')"
log "ready: DOCKER_HOST=unix://$SOCKET"
