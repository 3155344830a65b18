#!/usr/bin/env bash
# Starts a second Docker engine that stands in for one on another machine, for test/docker/remoteEngine.test.ts:
# a dockerd in a container on the local engine, running this machine's own dockerd/containerd/runc (bind-mounted
# read-only, with the shared libraries ldd names), with its own data-root (a volume), in its own network namespace,
# and reached over plain tcp:// on its own bridge network. Its filesystem is the container's, not this machine's:
# the project folders the tests make here do not exist there, as on a real remote host.
# The address is the container's IP, never a published 127.0.0.1 port: mlc counts loopback tcp:// as this machine.
# Its API is unauthenticated, as a test engine's may be: this machine and containers on its own network reach it,
# containers on other networks do not (Docker isolates bridge networks from one another).
# Second run: reuses a running container, recreates a stopped one (a host reboot or an engine restart leaves a stale
# docker.pid in it; the image store lives on in the volume), and reloads the stand-in only when it changed.
#
#   scripts/test-remote-engine.sh           prints the endpoint on its last line and writes it to $TMPDIR/mlc-remote-engine.host
#   scripts/test-remote-engine.sh --remove  removes the container, its network and its data volume
#   MLC_STANDIN_REPO                        repository of the stand-in loaded into it (default mlc-test)
#
# Needs the local Docker engine (scripts/test-engine.sh): DOCKER_HOST and DOCKER_CONTEXT are ignored, since the
# engine binaries mounted into the container are this machine's. Never touches the local engine's own networking:
# the inner dockerd makes its bridge inside the container's network namespace, and runs with --iptables=false.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=mlc-test-remote-engine
NETWORK=mlc-test-remote
VOLUME=mlc-test-remote-engine-data
PORT=2375
# Bumped when the container's settings change, so a second run recreates an old one instead of reusing it.
SPEC=2
REPO=${MLC_STANDIN_REPO:-mlc-test}
STANDIN=$REPO/debian:bookworm
TMP=${TMPDIR:-/tmp}
HOSTFILE=$TMP/mlc-remote-engine.host
REMOVE=0
case ${1:-} in
  -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
  --remove) REMOVE=1 ;;
  '') ;;
  *) echo "test-remote-engine: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac

log() { printf '[test-remote-engine] %s\n' "$*"; }
die() { printf '[test-remote-engine] %s\n' "$*" >&2; exit 1; }
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

WAS_DOCKER_HOST=${DOCKER_HOST:-}
unset DOCKER_HOST DOCKER_CONTEXT
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker || true)
[ -n "$DOCKER" ] || die "no docker client; run scripts/test-engine.sh first"
local_docker() { "$DOCKER" "$@"; }
remote_docker() { DOCKER_HOST=$1 "$DOCKER" "${@:2}"; }

if [ "$REMOVE" = 1 ]; then
  local_docker rm -f "$NAME" >/dev/null 2>&1 || true
  local_docker network rm "$NETWORK" >/dev/null 2>&1 || true
  local_docker volume rm "$VOLUME" >/dev/null 2>&1 || true
  rm -f "$HOSTFILE"
  log "removed $NAME, network $NETWORK and volume $VOLUME"
  exit 0
fi

started=$SECONDS
if ! local_docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  # npm run engine with DOCKER_HOST at an engine elsewhere: nothing here to run it on, and the tests say so.
  [ -z "$WAS_DOCKER_HOST" ] || { log "no local Docker engine to run it on (DOCKER_HOST=$WAS_DOCKER_HOST is not used for it); the remote-engine tests will be skipped"; exit 0; }
  die "the local Docker engine does not answer; run scripts/test-engine.sh first"
fi
local_docker image inspect "$STANDIN" >/dev/null 2>&1 || bash scripts/test-engine.sh --images debian

# The engine's programs, from this machine; the first two are required, the rest only serve --init and published ports.
BINARIES=()
for bin in dockerd containerd containerd-shim-runc-v2 runc docker-init docker-proxy; do
  path=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin command -v "$bin" || true)
  if [ -z "$path" ]; then
    case $bin in docker-init | docker-proxy) continue ;; esac
    die "$bin is not installed on this machine (Debian's docker.io has it; run scripts/test-engine.sh)"
  fi
  BINARIES+=("$path")
done

# Cgroups come read-only into a container, and dockerd needs them writable for its own containers (v2: as Docker's
# dind script does, this container's processes move to a child group first, so the controllers can be delegated;
# only v1 is exercised here and in CI). The API listens on the container's IP on its own network only, not on the
# inner bridge its containers sit on.
ENTRY='set -e
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
  mount -o remount,rw /sys/fs/cgroup
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
  sed -e "s/ / +/g" -e "s/^/+/" </sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control
else
  for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d"; done
fi
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
exec dockerd --host "tcp://$(hostname -i):'$PORT'" --tls=false --host unix:///var/run/docker.sock --iptables=false'

create() {
  local args=() bin lib
  for bin in "${BINARIES[@]}"; do args+=(-v "$bin:/opt/mlc-engine/bin/$(basename "$bin"):ro"); done
  # Their shared libraries from this machine too (the stand-in lacks libdevmapper, for one); the C library stays the
  # stand-in's own, so this machine and the stand-in must share a Debian release (both bookworm here and in CI).
  while read -r lib; do
    args+=(-v "$lib:/opt/mlc-engine/lib/$(basename "$lib"):ro")
  done < <(for bin in "${BINARIES[@]}"; do ldd "$bin" 2>/dev/null | awk '$3 ~ /^\// {print $3}'; done | sort -u | grep -vE '/(libc|libm|libpthread|libdl|librt)\.so')
  local_docker network inspect "$NETWORK" >/dev/null 2>&1 || local_docker network create "$NETWORK" >/dev/null
  log "starting $NAME (dockerd $(dockerd --version | sed 's/^Docker version //'), data in volume $VOLUME)"
  # Privileged would ask for every capability, and runc fails where the engine itself lacks one (CAP_SYS_RESOURCE on
  # some CI machines): all capabilities the engine has, unconfined, with a cgroup namespace of its own.
  local_docker run -d --name "$NAME" --label "org.mlcontainers.test=remote-engine" --label "org.mlcontainers.test.spec=$SPEC" \
    --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined --cgroupns private --device-cgroup-rule 'a *:* rwm' \
    --network "$NETWORK" -v "$VOLUME:/var/lib/docker" --tmpfs /run "${args[@]}" \
    -e PATH=/opt/mlc-engine/bin:/usr/sbin:/usr/bin:/sbin:/bin -e LD_LIBRARY_PATH=/opt/mlc-engine/lib \
    --entrypoint sh "$STANDIN" -c "$ENTRY" >/dev/null
}

spec=$(local_docker inspect -f '{{index .Config.Labels "org.mlcontainers.test.spec"}}' "$NAME" 2>/dev/null || true)
if [ -n "$spec" ] && [ "$spec" != "$SPEC" ]; then
  log "recreating $NAME (made by an older version of this script)"
  local_docker rm -f "$NAME" >/dev/null
  spec=
fi
if [ -z "$spec" ]; then
  create
elif [ "$(local_docker inspect -f '{{.State.Running}}' "$NAME")" != true ]; then
  # Made anew rather than restarted: whatever the stopped one left behind goes with it; its images live on in the volume.
  log "recreating the stopped $NAME"
  local_docker rm -f "$NAME" >/dev/null
  create
fi

ip=$(local_docker inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$NAME")
[ -n "$ip" ] || die "$NAME has no address on network $NETWORK"
HOST=tcp://$ip:$PORT
for _ in $(seq 1 60); do
  remote_docker "$HOST" version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
  if [ "$(local_docker inspect -f '{{.State.Running}}' "$NAME")" != true ]; then
    local_docker logs --tail 30 "$NAME" >&2 || true
    die "$NAME exited (its log above)"
  fi
  sleep 1
done
remote_docker "$HOST" version --format '{{.Server.Version}}' >/dev/null 2>&1 \
  || { local_docker logs --tail 30 "$NAME" >&2; die "the engine in $NAME did not answer on $HOST within 60 s (its log above)"; }

# The stand-in, copied over: no registry is reachable, and the remote engine shares no image store with this one.
want=$(local_docker image inspect -f '{{.Id}}' "$STANDIN")
have=$(remote_docker "$HOST" image inspect -f '{{.Id}}' "$STANDIN" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  log "loading $STANDIN into it"
  local_docker save "$STANDIN" | remote_docker "$HOST" load >/dev/null
fi

printf '%s\n' "$HOST" >"$HOSTFILE.partial" && mv "$HOSTFILE.partial" "$HOSTFILE"
log "engine: $(remote_docker "$HOST" version --format 'Docker {{.Server.Version}} (API {{.Server.APIVersion}})') in container $NAME, with $STANDIN; ready in $((SECONDS - started)) s"
echo "$HOST"
