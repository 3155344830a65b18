#!/usr/bin/env bash
# Makes sure a single-node Slurm 22.05 answers on this machine, for `mlc run --on slurm` and its Docker-tier tests
# (test/docker/slurm.test.ts). Fresh Debian 12 machine: installs slurm-wlm, munge, slurmdbd, mariadb and Charliecloud,
# writes /etc/slurm/{slurm,gres,slurmdbd}.conf (one node named after `hostname -s`, its CPUs and memory from `slurmd
# -C`, one fake GPU so --gres gpu:1 schedules), and starts munged, mariadbd, slurmdbd, slurmctld and slurmd in the
# background (no systemd: they outlive this script). Second run: about a second. Recipe and pitfalls: ENGINES.md, part B.
#
#   scripts/test-slurm.sh
#   MLC_SLURM_DEF_MEM   DefMemPerCPU in MB (default 1000): without it each job takes the whole node's memory and
#                       an array runs one task at a time
set -euo pipefail
cd "$(dirname "$0")/.."

DEF_MEM=${MLC_SLURM_DEF_MEM:-1000}
TMP=${TMPDIR:-/tmp}
MARK='# Written by ml-containers scripts/test-slurm.sh'
case ${1:-} in -h | --help) sed -n '2,10p' "$0"; exit 0 ;; '') ;; *) echo "test-slurm: unknown argument $1" >&2; exit 2 ;; esac

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

conf_changed=0
write_conf /etc/slurm/gres.conf "$MARK
# A fake GPU: --gres gpu:1 schedules and sets CUDA_VISIBLE_DEVICES, with no device behind it.
NodeName=$NODE Name=gpu File=/dev/null" && conf_changed=1
write_conf /etc/slurm/slurm.conf "$MARK
ClusterName=mlc
SlurmctldHost=$NODE
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
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
GresTypes=gpu
NodeName=$NODE $layout RealMemory=$node_mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP" && conf_changed=1

# slurmdbd before slurmctld, which registers the cluster with it; config changes need restarts (not reconfigure).
stop_daemon() { alive "$1" && { as_root kill "$(as_root cat "$1")"; for _ in $(seq 1 20); do alive "$1" || break; sleep 0.25; done; }; return 0; }
if [ "$dbd_changed" = 1 ]; then stop_daemon /run/slurm/slurmdbd.pid; fi
if [ "$conf_changed" = 1 ] || [ "$dbd_changed" = 1 ]; then stop_daemon /run/slurm/slurmctld.pid; stop_daemon /run/slurm/slurmd.pid; fi
if ! alive /run/slurm/slurmdbd.pid; then
  log "starting slurmdbd"
  as_root slurmdbd
  for _ in $(seq 1 40); do (exec 3<>/dev/tcp/127.0.0.1/6819) 2>/dev/null && break; sleep 0.25; done
fi
if ! alive /run/slurm/slurmctld.pid; then log "starting slurmctld"; as_root slurmctld; fi
if ! alive /run/slurm/slurmd.pid; then log "starting slurmd"; as_root slurmd; fi

# Ready when the node is idle (or busy with someone's jobs); a node left down or drained by an earlier start resumes.
state=''
for _ in $(seq 1 60); do
  state=$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -1 || true)
  case $state in
    idle | mixed | allocated | completing) break ;;
    down* | drain* | fail*) as_root scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
case $state in idle | mixed | allocated | completing) ;; *) tail -n 20 /var/log/slurm/slurmctld.log >&2 || true; die "node $NODE is '${state:-unknown}', not idle, after 30 s (log above)" ;; esac

log "charliecloud: $(USER=${USER:-$(id -un)} ch-run --version 2>&1)"
log "slurm: $(sinfo --version), node $NODE ($layout, RealMemory=$node_mem, gres gpu:1), partition debug, $state"
log "ready in $((SECONDS - started)) s"
