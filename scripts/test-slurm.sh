#!/usr/bin/env bash
# Makes sure a two-node Slurm 22.05 answers on this machine, for `mlc run --on slurm` and its Docker-tier tests
# (test/docker/slurm*.test.ts). Fresh Debian 12 machine: installs slurm-wlm, munge, slurmdbd, mariadb and Charliecloud,
# writes /etc/slurm/{slurm,gres,slurmdbd}.conf and starts munged, mariadbd, slurmdbd, slurmctld and two slurmd in the
# background (no systemd: they outlive this script). Second run: about a second. Recipe and pitfalls: ENGINES.md,
# part B, and CONTRIBUTING.md, "The two-node Slurm test world".
#   node <host> (`hostname -s`): the machine itself; partition `debug` (Default) has only this node, so every
#     one-node test and the quickstart keep their 127.0.0.1 services.
#   node <host>-2: a second slurmd in network namespace mlc-node2 (and a UTS namespace of its own, hostname <host>-2),
#     10.77.0.2 on a veth to the host's 10.77.0.1; it shares the host's files, munge key and dockerd (over
#     /var/run/docker.sock), so its `--network host` containers land in the host's network. Partition `multi` has both.
# Both nodes get the CPUs and memory of `slurmd -C` (oversubscribed: fine for tests) and one fake GPU each. Where the
# second node cannot come up (no CAP_NET_ADMIN), the one-node world is written instead: a warning, or a failure under
# CI=true, so the multi-node tests never silently skip in CI.
#
#   scripts/test-slurm.sh
#   MLC_SLURM_DEF_MEM   DefMemPerCPU in MB (default 1000): without it each job takes the whole node's memory and
#                       an array runs one task at a time
set -euo pipefail
cd "$(dirname "$0")/.."

DEF_MEM=${MLC_SLURM_DEF_MEM:-1000}
TMP=${TMPDIR:-/tmp}
MARK='# Written by ml-containers scripts/test-slurm.sh'
case ${1:-} in -h | --help) sed -n '2,18p' "$0"; exit 0 ;; '') ;; *) echo "test-slurm: unknown argument $1" >&2; exit 2 ;; esac

log() { printf '[test-slurm] %s\n' "$*"; }
die() { printf '[test-slurm] %s\n' "$*" >&2; exit 1; }
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"
started=$SECONDS

# slurmdbd and mariadb give sacct, which is how an ended task's state (TIMEOUT, OUT_OF_MEMORY, CANCELLED) is read
# back after slurmctld forgets the job; Debian's policy-rc.d keeps mariadb from starting at install. Charliecloud 0.31
# is the runtime for nodes without Docker (`--runtime charliecloud`): ch-run from charliecloud-runtime, ch-convert
# from charliecloud-builders (which depends on docker.io and buildah, as test-engine.sh and test-podman.sh install).
apt_install slurm-wlm munge slurmdbd mariadb-server charliecloud-runtime charliecloud-builders

alive() { [ -s "$1" ] && as_root kill -0 "$(as_root cat "$1")" 2>/dev/null; }

# A config file is ours to (re)write only when it is missing or carries our mark.
write_conf() {
  local file=$1 want=$2 mode=${3:-644}
  [ "$(as_root cat "$file" 2>/dev/null)" = "$want" ] && return 1
  if as_root test -s "$file" && ! as_root grep -q "$MARK" "$file"; then
    die "$file exists and was not written by this script; merge these settings into it by hand:
$want"
  fi
  as_root mkdir -p "$(dirname "$file")"
  printf '%s\n' "$want" | as_root tee "$file" >/dev/null
  as_root chmod "$mode" "$file"
  log "wrote $file"
  return 0
}

# munge: the key comes with the package; the daemon needs its run folder.
if ! alive /run/munge/munged.pid; then
  as_root mkdir -p /run/munge
  as_root chown munge:munge /run/munge
  as_root chmod 0755 /run/munge
  log "starting munged"
  as_root runuser -u munge -- /usr/sbin/munged
fi
munge -n | unmunge >/dev/null || die "munge does not authenticate (munge -n | unmunge); see /var/log/munge/munged.log"

as_root mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm

# mariadb for slurmdbd: its own session, so it outlives this script.
if ! alive "$TMP/mlc-mariadb.pid"; then
  as_root mkdir -p /run/mysqld
  as_root chown mysql:mysql /run/mysqld
  log "starting mariadbd (log: $TMP/mlc-mariadb.log)"
  ${SUDO[@]+"${SUDO[@]}"} setsid nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 >"$TMP/mlc-mariadb.log" 2>&1 </dev/null &
  echo $! >"$TMP/mlc-mariadb.pid"
  for _ in $(seq 1 60); do as_root mariadb -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
  as_root mariadb -e 'select 1' >/dev/null 2>&1 || { tail -n 20 "$TMP/mlc-mariadb.log" >&2; die "mariadbd did not answer within 30 s"; }
fi
# A local test database: the password only guards a socket on 127.0.0.1 of a throw-away machine.
as_root mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'mlc-slurmdb'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

dbd_changed=0
write_conf /etc/slurm/slurmdbd.conf "$MARK
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=/run/slurm/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=3306
StorageUser=slurm
StoragePass=mlc-slurmdb
StorageLoc=slurm_acct_db" 600 && dbd_changed=1

# The node as slurmd sees it: "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105".
NODE=$(hostname -s)
hw=$(as_root slurmd -C | head -1)
mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
layout=$(sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=[0-9]*//' <<<"$hw")
# Leave a tenth of the memory to the machine; slurmd drains a node that reports less than it is configured with.
node_mem=$((mem * 9 / 10))

# The second node: a network namespace joined to the host by a veth pair. Reused when it is already there (a machine
# reset kills the daemons but leaves namespaces); `ip` gives each piece only when missing, so a second run changes nothing.
NODE2=$NODE-2
NS=mlc-node2
HOST_IP=10.77.0.1
NODE2_IP=10.77.0.2
two_nodes() {
  as_root ip netns exec "$NS" true 2>/dev/null || as_root ip netns add "$NS" || return 1
  if ! as_root ip link show mlcn2-host >/dev/null 2>&1; then
    as_root ip netns exec "$NS" ip link del mlcn2-node 2>/dev/null || true
    as_root ip link add mlcn2-host type veth peer name mlcn2-node netns "$NS" || return 1
  fi
  as_root ip addr replace "$HOST_IP/24" dev mlcn2-host || return 1
  as_root ip link set mlcn2-host up || return 1
  as_root ip netns exec "$NS" ip addr replace "$NODE2_IP/24" dev mlcn2-node || return 1
  as_root ip netns exec "$NS" ip link set lo up || return 1
  as_root ip netns exec "$NS" ip link set mlcn2-node up || return 1
  as_root ip netns exec "$NS" ip route replace default via "$HOST_IP" || return 1
  # The node's /etc/hosts (bound over it below; `ip netns exec` does the same when debugging): the host's file maps
  # $NODE to 127.0.0.1, which in the namespace would be its own loopback.
  as_root mkdir -p "/etc/netns/$NS" || return 1
  printf '127.0.0.1 localhost\n%s %s\n%s %s\n' "$HOST_IP" "$NODE" "$NODE2_IP" "$NODE2" | as_root tee "/etc/netns/$NS/hosts" >/dev/null
}
nodes=$NODE
ctld_host=$NODE
if two_nodes; then
  nodes="$NODE,$NODE2"
  ctld_host="$NODE($HOST_IP)"
else
  msg="the second Slurm node $NODE2 cannot come up: making network namespace $NS with a veth needs CAP_NET_ADMIN (see the ip errors above); only the one-node world (partition debug) is there"
  [ "${CI:-}" = true ] && die "$msg"
  log "warning: $msg"
fi
node_line() { printf 'NodeName=%s %s RealMemory=%s Gres=gpu:1 State=UNKNOWN' "$1" "$layout" "$node_mem"; }
node_lines=$(node_line "$NODE")
partitions="PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP"
if [ "$nodes" != "$NODE" ]; then
  node_lines="$node_lines NodeAddr=$HOST_IP
$(node_line "$NODE2") NodeAddr=$NODE2_IP"
  partitions="$partitions
PartitionName=multi Nodes=$nodes MaxTime=INFINITE State=UP"
fi

conf_changed=0
write_conf /etc/slurm/gres.conf "$MARK
# A fake GPU on each node: --gres gpu:1 schedules and sets CUDA_VISIBLE_DEVICES, with no device behind it.
NodeName=$nodes Name=gpu File=/dev/null" && conf_changed=1
# %n is the node's name: each slurmd keeps its own pid file, log and spool though they share one file system.
write_conf /etc/slurm/slurm.conf "$MARK
ClusterName=mlc
SlurmctldHost=$ctld_host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MEM
SchedulerType=sched/backfill
ReturnToService=2
KillWait=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd-%n.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
SlurmctldPort=6817
SlurmdPort=6818
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
GresTypes=gpu
$node_lines
$partitions" && conf_changed=1

# slurmdbd before slurmctld, which registers the cluster with it; config changes need restarts (not reconfigure).
# /run/slurm/slurmd.pid is the one-node world's slurmd from before the pid files were named per node.
stop_daemon() { alive "$1" && { as_root kill "$(as_root cat "$1")"; for _ in $(seq 1 20); do alive "$1" || break; sleep 0.25; done; }; return 0; }
if [ "$dbd_changed" = 1 ]; then stop_daemon /run/slurm/slurmdbd.pid; fi
if [ "$conf_changed" = 1 ] || [ "$dbd_changed" = 1 ]; then
  stop_daemon /run/slurm/slurmctld.pid
  for pid in /run/slurm/slurmd.pid "/run/slurm/slurmd-$NODE.pid" "/run/slurm/slurmd-$NODE2.pid"; do stop_daemon "$pid"; done
fi
if ! alive /run/slurm/slurmdbd.pid; then
  log "starting slurmdbd"
  as_root slurmdbd
  for _ in $(seq 1 40); do (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null && break; sleep 0.25; done
fi
if ! alive /run/slurm/slurmctld.pid; then log "starting slurmctld"; as_root slurmctld; fi
as_root mkdir -p "/var/spool/slurmd/$NODE"
if ! alive "/run/slurm/slurmd-$NODE.pid"; then log "starting slurmd for $NODE"; as_root slurmd -N "$NODE"; fi
if [ "$nodes" != "$NODE" ] && ! alive "/run/slurm/slurmd-$NODE2.pid"; then
  as_root mkdir -p "/var/spool/slurmd/$NODE2"
  log "starting slurmd for $NODE2 in network namespace $NS"
  # nsenter rather than `ip netns exec`, which mounts a fresh /sys without /sys/fs/cgroup, and slurmd will not start
  # without it; the namespace's hosts file goes over /etc/hosts in a mount namespace of the node's own (slave, so
  # mounts made on the host later still show).
  as_root nsenter --net="/run/netns/$NS" unshare --uts --mount --propagation slave \
    sh -c "hostname '$NODE2' && mount --bind '/etc/netns/$NS/hosts' /etc/hosts && exec slurmd -N '$NODE2'"
fi

# Ready when each node is idle (or busy with someone's jobs); a node left down or drained by an earlier start resumes.
node_up() {
  local node=$1 state=''
  for _ in $(seq 1 60); do
    state=$(sinfo -h -n "$node" -o '%T' 2>/dev/null | head -1 || true)
    case $state in
      idle | mixed | allocated | completing) echo "$state"; return 0 ;;
      down* | drain* | fail*) as_root scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  tail -n 20 /var/log/slurm/slurmctld.log "/var/log/slurm/slurmd-$node.log" >&2 || true
  die "node $node is '${state:-unknown}', not idle, after 30 s (logs above)"
}
state=$(node_up "$NODE")
log "charliecloud: $(USER=${USER:-$(id -un)} ch-run --version 2>&1)"
log "slurm: $(sinfo --version), node $NODE ($layout, RealMemory=$node_mem, gres gpu:1), partition debug, $state"
if [ "$nodes" != "$NODE" ]; then
  state2=$(node_up "$NODE2")
  log "both nodes up: $NODE ($HOST_IP, $state) and $NODE2 ($NODE2_IP in netns $NS, $state2), partition multi"
fi
log "ready in $((SECONDS - started)) s"
