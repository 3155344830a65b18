#!/usr/bin/env bash
# A Docker engine the fault tests may kill (test/docker/faults.test.ts): a second dockerd on THIS machine (so runs on
# it are local: it sees the project folders), with its own socket, data-root, exec-root, pidfile, containerd, cgroup
# parent and bridge, so killing it never touches the main engine the other tests use.
# Its bridge is one of its own (mlcfault0, made here with `ip link`), never --bridge=none: in this network namespace
# that option deletes the main engine's docker0. --iptables=false: it adds no rules beside the main engine's.
#
#   scripts/test-fault-engine.sh            starts it (or finds it running), loads the debian stand-in; prints the endpoint
#   scripts/test-fault-engine.sh --start    starts it only (what the tests call after killing it; no image load)
#   scripts/test-fault-engine.sh --stop     SIGTERM, then SIGKILL after 20 s; waits until it is gone
#   scripts/test-fault-engine.sh --kill     SIGKILL at once (its containerd goes with it; the containers' shims stay)
#   scripts/test-fault-engine.sh --remove   stops it and deletes its data, bridge and files
#   MLC_FAULT_ENGINE_DIR                    where its files live (default /tmp/mlc-fault-engine)
#
# Needs root and the local Docker engine (scripts/test-engine.sh) for dockerd itself and the stand-in image.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${MLC_FAULT_ENGINE_DIR:-/tmp/mlc-fault-engine}
SOCK=/tmp/mlc-fault-engine.sock
HOST=unix://$SOCK
PIDFILE=$DIR/dockerd.pid
LOG=$DIR/dockerd.log
BRIDGE=mlcfault0
BRIDGE_CIDR=172.31.254.1/24
STANDIN=${MLC_STANDIN_REPO:-mlc-test}/debian:bookworm
ACTION=${1:-}

log() { printf '[test-fault-engine] %s\n' "$*"; }
die() { printf '[test-fault-engine] %s\n' "$*" >&2; exit 1; }
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"
unset DOCKER_CONTEXT
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker || true)

pid() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && cat "$PIDFILE"; }
answers() { DOCKER_HOST=$HOST "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

stop() { # SIGNAL
  local p
  p=$(pid) || { log "not running"; return 0; }
  log "sending SIG$1 to dockerd $p"
  as_root kill "-$1" "$p"
  for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$p" 2>/dev/null; then
    log "dockerd $p still runs after 20 s: SIGKILL"
    as_root kill -KILL "$p"
    while kill -0 "$p" 2>/dev/null; do sleep 0.2; done
  fi
  # Its containerd dies with it (dockerd starts it with a parent-death signal), a moment later: a start before then
  # finds containerd.pid alive ("containerd is still running") and times out waiting for its socket.
  local c
  c=$(cat "$DIR/exec/containerd/containerd.pid" 2>/dev/null || true)
  if [ -n "$c" ]; then for _ in $(seq 1 50); do kill -0 "$c" 2>/dev/null || break; sleep 0.2; done; fi
}

start() {
  if pid >/dev/null && answers; then return 0; fi
  command -v dockerd >/dev/null || die "dockerd is not installed (run scripts/test-engine.sh)"
  as_root mkdir -p "$DIR/data" "$DIR/exec"
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    as_root ip link add "$BRIDGE" type bridge
    as_root ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  fi
  as_root ip link set "$BRIDGE" up
  # A killed engine leaves its pidfile; dockerd refuses to start over a live one only.
  as_root rm -f "$PIDFILE"
  log "starting dockerd on $HOST (log: $LOG)"
  as_root setsid nohup dockerd --host "$HOST" --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$PIDFILE" \
    --bridge "$BRIDGE" --iptables=false --ip-masq=false --ip-forward=false --cgroup-parent mlc-fault-engine \
    >>"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    answers && return 0
    sleep 0.5
  done
  tail -n 30 "$LOG" >&2 || true
  die "the fault engine did not answer on $HOST within 30 s (log above)"
}

case $ACTION in
  -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
  --stop) stop TERM; exit 0 ;;
  --kill) stop KILL; exit 0 ;;
  --start) start; echo "$HOST"; exit 0 ;;
  --remove)
    stop TERM
    as_root rm -rf "$DIR" "$SOCK"
    ! ip link show "$BRIDGE" >/dev/null 2>&1 || as_root ip link del "$BRIDGE"
    log "removed"
    exit 0 ;;
  '') ;;
  *) die "unknown argument $ACTION (try --help)" ;;
esac

started=$SECONDS
"$DOCKER" image inspect "$STANDIN" >/dev/null 2>&1 || bash scripts/test-engine.sh --images debian
start
want=$("$DOCKER" image inspect -f '{{.Id}}' "$STANDIN")
have=$(DOCKER_HOST=$HOST "$DOCKER" image inspect -f '{{.Id}}' "$STANDIN" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  log "loading $STANDIN into it"
  "$DOCKER" save "$STANDIN" | DOCKER_HOST=$HOST "$DOCKER" load >/dev/null
fi
log "engine: $(DOCKER_HOST=$HOST "$DOCKER" version --format 'Docker {{.Server.Version}} (API {{.Server.APIVersion}})') on $HOST, with $STANDIN; ready in $((SECONDS - started)) s"
echo "$HOST"
