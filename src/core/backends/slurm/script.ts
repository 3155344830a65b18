// The batch script of a sweep on Slurm, as text: one array job, task i runs point i in `docker run --init` of the
// image pinned by id, with the mounts, env and labels of a local run (core/run/experiment.ts renders them), and calls
// back into `mlc slurm-task` to write its start and final record (core/run/records.ts stays the only writer).
import * as path from 'node:path';
import { quote } from 'shell-quote';
import { toDockerRunArgs } from '../../container/dockerRun';
import { NO_GPU_ENV, asksUnlimitedMemlock, containerRequest } from '../../container/request';
import type { ContainerCreateRequest } from '../../docker/engine';
import type { RunContainerInput } from '../../run/experiment';
import { runContainerSpec } from '../../run/experiment';
import { PLANS_DIR } from '../../run/plan';
import { JOB_LABEL } from '../../labels';
import type { ApptainerTool } from './apptainer';
import { apptainerEnvPrefix, toApptainerArgs } from './apptainer';
import { toChRunArgs } from './charliecloud';
import type { SlurmRuntime } from './runtime';
import { isApptainer } from './runtime';
import { SlurmError } from './slurm';
import { hasControlCharacter, printable } from '../../generatedText';

/** What `mlc run --on slurm` passes to sbatch, each as its own #SBATCH line. */
export interface SlurmOptions {
  partition?: string;
  time?: string;
  cpusPerTask?: number;
  mem?: string;
  gres?: string;
  account?: string;
  /** More #SBATCH lines, as given: "--qos=long", "--constraint=a100". */
  extra?: string[];
  /** Tasks at a time (`--array=…%P`); all at once when absent. */
  parallel?: number;
}

export interface BatchScriptInput {
  planId: string;
  sweep: boolean;
  workspace: string;
  /** One per array task, in task order; task i (1-based) runs tasks[i - 1]. */
  tasks: readonly RunContainerInput[];
  slurm: SlurmOptions;
  /** How the batch script calls back: node, dist/cli.js. */
  recorder: { node: string; cli: string };
  /** The engine the tasks' docker CLI talks to, when not the node's default. */
  dockerHost?: string;
  /** How tasks run their container: `docker run` (the default), `ch-run` of this directory image, `apptainer exec` of this SIF. */
  runtime?: SlurmRuntime;
  charliecloudImage?: string;
  sif?: string;
  /** One run across several nodes (`--nodes`, `--launcher`): see multiNodeParts. */
  multiNode?: MultiNode;
  /** Where the image was pushed (`--push`), pinned by digest: a node whose engine lacks the image pulls it from there.
   * Docker only (the backend refuses --push with the others, whose image is converted once into the folder). */
  pull?: string;
}

/** A run that spans nodes: N nodes, one container each, and whether torchrun wraps the command. */
export interface MultiNode {
  nodes: number;
  launcher?: 'torchrun';
}

/** GPUs per node that --gres asks for ("gpu:2", "gpu:a100:2" → 2; "gpu" → 1); 0 when it asks for none. */
export function gresGpuCount(gres: string | undefined): number {
  const g = (gres ?? '').split(',').find((x) => /^(gres\/)?gpu(:|$)/.test(x.trim()));
  if (!g) return 0;
  const last = g.trim().split(':').pop()!;
  return /^\d+$/.test(last) ? Number(last) : 1;
}

/**
 * COMMAND under torchrun, one agent per node: the node count and the rendezvous (c10d, on rank 0's node) come from
 * the variables each node's container gets (multiNodeParts), a process per GPU of the node or one on CPU.
 * `--no_python` runs COMMAND as given (`python train.py` stays that), and the underscore spellings are the ones
 * every torchrun takes (the hyphenated ones came with torch 2). The rendezvous store is hosted by node rank 0, said
 * with `is_host` rather than left to torchrun's guess from host names and addresses, which is wrong where nodes
 * share a name or a host has several addresses. Torch's global ranks are the rendezvous's to give (by its sorted node
 * descriptors), so torch's rank 0 need not be on node rank 0.
 */
export function torchrunCommand(command: readonly string[], procsPerNode: number): string[] {
  if (!command.length) throw new SlurmError('--launcher torchrun needs the command it launches after --, such as -- python train.py.');
  const line = `host=0; [ "$NODE_RANK" = 0 ] && host=1; exec torchrun --nnodes "$NNODES" --nproc_per_node ${procsPerNode} --rdzv_backend c10d --rdzv_endpoint "$MASTER_ADDR:$MASTER_PORT" --rdzv_id "$MLC_RDZV_ID" --rdzv_conf "is_host=$host" --no_python "$@"`;
  return ['sh', '-c', line, 'torchrun', ...command];
}

/** Whether the --gres asks for GPUs ("gpu:1", "gpu:a100:2", "gres/gpu:1"). */
export function gresHasGpu(gres: string | undefined): boolean {
  return !!gres && gres.split(',').some((g) => /^(gres\/)?gpu(:|$)/.test(g.trim()));
}

/** The options written as one word each, and a value to give as an example. */
const SBATCH_WORDS = [
  ['partition', '--partition', 'gpu'],
  ['time', '--time', '1:00:00'],
  ['mem', '--mem', '16G'],
  ['gres', '--gres', 'gpu:1'],
  ['account', '--account', 'phys'],
] as const;

/**
 * What is wrong with the first option #SBATCH cannot hold as given, as one sentence saying what to give instead;
 * undefined when all can be written. A newline (or another control character) in a value would end its #SBATCH line
 * and make the rest a line of the script, and sbatch splits an #SBATCH line at spaces into more options: a
 * partition, time, memory, gres or account is one word. --sbatch-arg is an option as the user writes it, spaces and
 * all, but still one line.
 */
export function sbatchOptionsProblem(o: SlurmOptions): string | undefined {
  for (const [key, flag, example] of SBATCH_WORDS) {
    const value = o[key];
    if (value !== undefined && (/\s/.test(value) || hasControlCharacter(value)))
      return `${flag} takes one word without spaces or newlines, such as ${flag}=${example}, not ${printable(value)}.`;
  }
  for (const line of o.extra ?? []) {
    if (hasControlCharacter(line) || !line.trim().startsWith('-'))
      return `--sbatch-arg takes one sbatch option per flag, such as --sbatch-arg=--qos=long, not ${printable(line)}.`;
  }
  return undefined;
}

/**
 * Array task ids start at 1 so that task i is point i: a sweep's run ids end in -1, -2, …, and Slurm writes task i's
 * output straight into that run's output.log (`%a` in --output).
 */
export function arraySpec(size: number, parallel: number | undefined): string {
  return `1-${size}${parallel ? `%${parallel}` : ''}`;
}

/** The whole script; pure, so `--dry-run` prints what would be submitted and tests read every line. */
/** The user's Slurm options as #SBATCH values (checked by sbatchOptionsProblem first), in a fixed order. */
export function sbatchOptionLines(s: SlurmOptions): string[] {
  return [
    ...(s.partition ? [`--partition=${s.partition}`] : []),
    ...(s.time ? [`--time=${s.time}`] : []),
    ...(s.cpusPerTask ? [`--cpus-per-task=${s.cpusPerTask}`] : []),
    ...(s.mem ? [`--mem=${s.mem}`] : []),
    ...(s.gres ? [`--gres=${s.gres}`] : []),
    ...(s.account ? [`--account=${s.account}`] : []),
    ...(s.extra ?? []).map((x) => x.trim()),
  ];
}

export function renderBatchScript(i: BatchScriptInput): string {
  if (/[\s%]/.test(i.workspace) || hasControlCharacter(i.workspace))
    throw new SlurmError(
      `Slurm's #SBATCH lines cannot hold the path ${printable(i.workspace)} (it has a space, a control character or %): move the project to a path without them.`,
    );
  // The sweep id names the job, the output file and a comment line; ids we make are words, a resumed one is checked.
  if (!/^[\w.-]+$/.test(i.planId))
    throw new SlurmError(
      `The sweep id ${printable(i.planId)} cannot name a Slurm job: submit the sweep again (mlc run --on slurm) rather than resuming it.`,
    );
  const problem = sbatchOptionsProblem(i.slurm);
  if (problem) throw new SlurmError(problem);
  const gpu = gresHasGpu(i.slurm.gres);
  const runs = i.tasks;
  const output = i.sweep
    ? `${i.workspace}/.mlcontainers/runs/${i.planId}-%a/output.log`
    : `${i.workspace}/.mlcontainers/runs/${i.planId}/output.log`;
  const s = i.slurm;
  const sbatch = [
    `--job-name=mlc-${i.planId}`,
    `--array=${arraySpec(runs.length, s.parallel)}`,
    `--chdir=${i.workspace}`,
    `--output=${output}`,
    '--open-mode=append',
    ...(i.multiNode ? [`--nodes=${i.multiNode.nodes}`, '--ntasks-per-node=1'] : []),
    ...sbatchOptionLines(s),
  ];
  const charliecloud = i.runtime === 'charliecloud';
  if (charliecloud && !i.charliecloudImage) throw new Error('renderBatchScript: the Charliecloud runtime needs its directory image');
  const apptainer = isApptainer(i.runtime) ? i.runtime : undefined;
  if (apptainer && !i.sif) throw new Error('renderBatchScript: the Apptainer runtime needs its SIF');
  const multi = i.multiNode;
  const cases = runs.map((given, n) => {
    const run = multi?.launcher ? { ...given, command: torchrunCommand(given.command, gresGpuCount(s.gres) || 1) } : given;
    const spec = { ...runContainerSpec(run), name: undefined };
    // GPUs come from Slurm's allocation at run time (below), not from this machine's preflight.
    const render = (dropMemlock: boolean): ContainerCreateRequest => {
      const request = containerRequest({ ...spec, dropMemlock });
      if (gpu) request.Env = (request.Env ?? []).filter((e) => e !== `${NO_GPU_ENV.name}=${NO_GPU_ENV.value}`);
      return request;
    };
    const request = render(false);
    // A secret goes by name (`-e NAME`): its value comes from the job's environment, never from this file.
    const secretEnv = new Set((run.runtime?.env ?? []).filter((v) => v.secret).map((v) => v.name));
    if (apptainer) {
      const a = toApptainerArgs(request, run.image.details, i.sif!, { secretEnv, gpu });
      return `  ${n + 1}) run=${quote([run.runId])}; keep=(${quote(a.inherit)}); envs=(${quote(a.env)}); args=(${quote(a.args)}) ;;`;
    }
    if (charliecloud) {
      const ch = toChRunArgs(request, run.image.details, i.charliecloudImage!, { secretEnv });
      return `  ${n + 1}) run=${quote([run.runId])}; keep=(${quote(ch.inherit)}); args=(${quote(ch.args)}) ;;`;
    }
    const words = (r: ContainerCreateRequest): string[] => toDockerRunArgs(r, { remove: true, labels: true, secretEnv }).slice(2);
    // runArgs' --ulimit memlock=-1 (the presets ask it for pinned memory): the same words without it, for an engine
    // that cannot lift the limit, as launchContainer falls back for a local run.
    const fallback = asksUnlimitedMemlock(spec) ? `; lowmem=(${quote(words(render(true)))})` : '';
    return `  ${n + 1}) run=${quote([run.runId])}; args=(${quote(words(request))})${fallback} ;;`;
  });
  const mlc = quote([i.recorder.node, i.recorder.cli, 'slurm-task', '--dir', i.workspace]);
  const body = apptainer
    ? apptainerRun(apptainer, !multi)
    : charliecloud
      ? charliecloudRun(!multi)
      : dockerRun(!multi, i.pull ? { id: runs[0]!.image.details.id, ref: i.pull } : undefined);
  const run = multi
    ? multiNodeParts({
        body,
        runtime: apptainer ? 'apptainer' : charliecloud ? 'charliecloud' : 'docker',
        workspace: i.workspace,
        planId: i.planId,
      })
    : `${body}"\${mlc[@]}" finish "$run" --exit "$code"\nexit "$code"\n`;
  const how = charliecloud ? ' (converted for ch-run)' : apptainer ? ` (built into a SIF for ${apptainer})` : '';
  return `#!/bin/bash
# Written by ML Containers (mlc run --on slurm): ${i.sweep ? `sweep ${i.planId}, ${runs.length} runs` : `run ${i.planId}`}, one array task each${multi ? `, on ${multi.nodes} nodes` : ''}.
# Task i runs point i of .mlcontainers/sweeps/${i.planId}.json in the image pinned by id${how}; it records its own start and
# end through \`mlc slurm-task\`, and \`mlc runs\` reads what squeue and sacct say of tasks that could not (cancelled,
# over --time, out of memory).
${sbatch.map((x) => `#SBATCH ${x}`).join('\n')}
set -u
${i.dockerHost ? `export DOCKER_HOST=${quote([i.dockerHost])}\n` : ''}task=$SLURM_ARRAY_TASK_ID
lowmem=()
case $task in
${cases.join('\n')}
  *) echo "mlc: no run for array task $task" >&2; exit 2 ;;
esac
job=\${SLURM_ARRAY_JOB_ID}_$task
name=mlc-\${SLURM_ARRAY_JOB_ID}-$task
mlc=(${mlc})
${run}`;
}

/** The script kept beside the plan, .mlcontainers/sweeps/<id>.sbatch: what sbatch is given, and what srun runs on every node of a multi-node run. */
export function scriptPath(planId: string): string {
  return path.join(PLANS_DIR, `${planId}.sbatch`);
}

/**
 * A run on several nodes: the batch script, on the allocation's first node, sets the rendezvous, records the start
 * and runs itself on every node through srun with `--node` (the kept copy: the nodes see the workspace at the same
 * path, and the container cannot write it, as .mlcontainers is read-only in a run); each node starts its container
 * on the host's network with the rendezvous and the SLURM_* variables, its output going to output.<rank>.log (rank
 * 0's also to the run's output.log) through \`mlc slurm-task log\`, which never follows a link the run left there.
 * A node that fails ends the others (srun --kill-on-bad-exit) and is named on the record: each node notes when and
 * how its container ended in a folder beside the script, and the first to fail is the cause.
 */
function multiNodeParts(o: { body: string; runtime: 'docker' | 'charliecloud' | 'apptainer'; workspace: string; planId: string }): string {
  const self = quote([path.join(o.workspace, scriptPath(o.planId))]);
  const ends = quote([path.join(o.workspace, PLANS_DIR, `${o.planId}.nodes`)]);
  // What a node's container gets beyond the run's own: docker takes names (-e NAME, the value from this shell);
  // ch-run and apptainer keep the names listed in keep from the environment they clear. Docker's container also gets
  // the node's host name, which host networking gives it anyway where one engine serves one node; where an engine
  // serves several, each would get the engine host's, and torchrun, whose rendezvous tells agents apart by host name
  // and process id (the same in every container), would take two nodes' agents for one and wait for ever.
  const pass =
    o.runtime === 'docker'
      ? `node=(--network host --hostname "$(hostname)")
  for v in MASTER_ADDR MASTER_PORT NNODES NODE_RANK MLC_RDZV_ID $(compgen -e | grep '^SLURM_'); do node+=(-e "$v"); done`
      : `keep+=(MASTER_ADDR MASTER_PORT NNODES NODE_RANK MLC_RDZV_ID $(compgen -e | grep '^SLURM_'))`;
  const body = o.body.replace(/^/gm, '  ').replace(/^ +$/gm, '');
  return `ends=${ends}
if [ "\${1:-}" = --node ]; then
  # One node's share, started by srun: its rank is its place in the allocation, rank 0 the node this script began on.
  export NODE_RANK=$SLURM_NODEID
  rank=$SLURM_NODEID
  [ "$rank" = 0 ] || name=$name-$rank
  # This node's GPUs are the step's (srun sets them per node); what follows reads them where a one-node task does.
  export SLURM_JOB_GPUS=\${SLURM_STEP_GPUS:-\${SLURM_JOB_GPUS:-}}
  ${pass}
  exec > >("\${mlc[@]}" log "$run" --rank "$rank") 2>&1
${body}  printf '%s %s %s %s\\n' "$(date +%s%N)" "$rank" "\${SLURMD_NODENAME:-$(hostname)}" "$code" >"$ends/$job.$rank"
  # Its output is all in the log once mlc has read to the end of it.
  exec >&- 2>&-
  wait $!
  exit "$code"
fi
# The rendezvous: rank 0's node, the first of the allocation (where this script runs), and a port free on it (tasks
# of one sweep that share a first node start from different ports, as they may start at the same moment).
nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))
export MASTER_ADDR=\${nodes[0]} NNODES=\${#nodes[@]} MLC_RDZV_ID=$job
port=$((29500 + (SLURM_ARRAY_JOB_ID * 64 + task) % 2000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
export MASTER_PORT=$port
"\${mlc[@]}" start "$run" --job "$job" --gpus "\${SLURM_JOB_GPUS:-none}" --nodes "$(IFS=,; echo "\${nodes[*]}")" || exit 1
mkdir -p "$ends" && rm -f "$ends/$job".*
# scancel and the time limit reach srun and every node's share, which removes its container; the record is then left
# to \`mlc runs\`, which asks sacct how the task ended.
stopped=0
trap 'stopped=1' TERM
srun --nodes="$NNODES" --ntasks="$NNODES" --ntasks-per-node=1 --kill-on-bad-exit=1 bash ${self} --node
code=$?
if [ "$stopped" = 1 ]; then exit "$code"; fi
# The node that failed first (srun ended the others after it) is the run's cause: its rank, name and exit code.
first=$(cat "$ends/$job".* 2>/dev/null | sort -n | awk '$4 != 0 { print $2, $3, $4; exit }')
failed=()
if [ -n "$first" ]; then
  read -r frank fnode fcode <<<"$first"
  failed=(--failed-rank "$frank" --failed-node "$fnode")
  code=$fcode
fi
"\${mlc[@]}" finish "$run" --exit "$code" "\${failed[@]}"
exit "$code"
`;
}

/** A one-node task's start on record: running, in its container, with the GPUs Slurm gave it. */
const START = `"\${mlc[@]}" start "$run" --job "$job" --gpus "\${SLURM_JOB_GPUS:-none}" || exit 1\n`;

/**
 * Task i's container through the docker CLI on the node, named after the task so scancel's TERM can remove it. `single`:
 * the task is the run (it records its start); else it is one node's share of it (multiNodeParts), on the host's network.
 */
function dockerRun(single: boolean, pull?: { id: string; ref: string }): string {
  const node = single ? '' : ' "${node[@]}"';
  // A node's engine that lacks the image pulls it by digest, with the node's docker credentials; a pull that fails
  // is said here, and the run then fails as docker run names the missing image.
  const fetch = pull
    ? `# A node whose engine lacks the image pulls it by digest from where \`mlc run --push\` pushed it (same id).
pull=${quote([pull.ref])}
if ! docker image inspect ${quote([pull.id])} >/dev/null 2>&1; then
  docker pull -q "$pull" >/dev/null || echo "mlc: node $(hostname) has no image ${pull.id.slice(7, 19)} and could not pull $pull: check that it can reach the registry and log in there (docker login)" >&2
fi
`
    : '';
  return `${fetch}# The container gets what Slurm allocated: its GPUs (the NVIDIA runtime where the node has it, else the variables
# CUDA reads), and its CPUs and memory as docker limits, since dockerd's containers live outside the job's cgroup.
gpus=()
if [ -n "\${SLURM_JOB_GPUS:-}" ]; then
  if docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then
    gpus=(--gpus "device=$SLURM_JOB_GPUS" --ulimit memlock=-1 --ulimit stack=67108864)
  else
    gpus=(-e "NVIDIA_VISIBLE_DEVICES=$SLURM_JOB_GPUS" -e "CUDA_VISIBLE_DEVICES=\${CUDA_VISIBLE_DEVICES:-$SLURM_JOB_GPUS}")
  fi
fi
limits=()
[ -n "\${SLURM_CPUS_PER_TASK:-}" ] && limits+=(--cpus "$SLURM_CPUS_PER_TASK")
[ -n "\${SLURM_MEM_PER_NODE:-}" ] && limits+=(--memory "\${SLURM_MEM_PER_NODE}m")
${single ? START : ''}# scancel and the time limit send TERM to docker (which --init passes on to the command) and to this script: then
# the container is made sure gone and the record left to \`mlc runs\`, which asks sacct how the task ended.
stopped=0
trap 'stopped=1' TERM
err=$(mktemp)
# Its stderr goes on to the output file as it comes, and into $err to be read if the container could not start.
{ docker run --name "$name" --label "${JOB_LABEL}=$job"${node} "\${gpus[@]}" "\${limits[@]}" "\${args[@]}" 2>&1 1>&3 3>&- | tee "$err" >&2; } 3>&1
code=\${PIPESTATUS[0]}
# Rootless and sandboxed engines cannot lift memlock (runArgs --ulimit memlock=-1): as a local run does, the task
# starts with the engine's limit rather than not at all.
if [ "$code" = 125 ] && [ "$stopped" = 0 ] && [ \${#lowmem[@]} -gt 0 ] && grep -q 'rlimit type 8' "$err"; then
  echo "mlc: this engine cannot raise the locked-memory limit (memlock=-1); starting with its default limit, so pinned-memory transfers may be slower." >&2
  docker rm -f "$name" >/dev/null 2>&1
  docker run --name "$name" --label "${JOB_LABEL}=$job"${node} "\${gpus[@]}" "\${limits[@]}" "\${lowmem[@]}"
  code=$?
fi
rm -f "$err"
if [ "$stopped" = 1 ]; then
  docker rm -f "$name" >/dev/null 2>&1
  exit "$code"
fi
`;
}

/**
 * Task i's container through ch-run: a process of the job, so Slurm's limits and signals reach it as they reach any
 * other. Its environment is cleared but for $USER (ch-run needs it) and the secrets, which the job inherited from
 * sbatch: the words set the rest.
 */
function charliecloudRun(single: boolean): string {
  return `chrun=$(command -v ch-run) || { echo "mlc: ch-run is not on PATH on node $(hostname): install Charliecloud on the nodes, or submit with --runtime docker" >&2; exit 1; }
# The container gets the GPUs Slurm allocated as the variables CUDA reads (the node's /dev is the container's).
gpus=()
if [ -n "\${SLURM_JOB_GPUS:-}" ]; then
  gpus=("--set-env=NVIDIA_VISIBLE_DEVICES=$SLURM_JOB_GPUS" "--set-env=CUDA_VISIBLE_DEVICES=\${CUDA_VISIBLE_DEVICES:-$SLURM_JOB_GPUS}")
fi
${single ? START : ''}# scancel and the time limit send TERM to every process of the job, the command included: the record is then left
# to \`mlc runs\`, which asks sacct how the task ended.
stopped=0
trap 'stopped=1' TERM
(
  export USER="\${USER:-$(id -un)}"
  for v in $(compgen -e); do
    case " USER \${keep[*]} " in *" $v "*) ;; *) unset "$v" 2>/dev/null ;; esac
  done
  exec "$chrun" "\${gpus[@]}" "\${args[@]}"
)
code=$?
if [ "$stopped" = 1 ]; then exit "$code"; fi
`;
}

/**
 * Task i's container through `apptainer exec` of the SIF: a process of the job, so Slurm's limits and signals reach
 * it. With --cleanenv it sees none of the job's variables: the request's, the secrets (from the job's environment,
 * which sbatch passed on) and the GPUs Slurm allocated are handed over as APPTAINERENV_ variables.
 */
function apptainerRun(tool: ApptainerTool, single: boolean): string {
  const prefix = apptainerEnvPrefix(tool);
  return `tool=$(command -v ${tool}) || { echo "mlc: ${tool} is not on PATH on node $(hostname): install Apptainer on the nodes, or submit with --runtime docker" >&2; exit 1; }
${single ? START : ''}# scancel and the time limit send TERM to every process of the job, the command included: the record is then left
# to \`mlc runs\`, which asks sacct how the task ended.
stopped=0
trap 'stopped=1' TERM
(
  for e in "\${envs[@]}"; do export "${prefix}$e"; done
  for v in "\${keep[@]}"; do export "${prefix}$v=\${!v-}"; done
  # The GPUs Slurm allocated, as the variables CUDA reads (--nv binds the driver).
  if [ -n "\${SLURM_JOB_GPUS:-}" ]; then
    export "${prefix}NVIDIA_VISIBLE_DEVICES=$SLURM_JOB_GPUS" "${prefix}CUDA_VISIBLE_DEVICES=\${CUDA_VISIBLE_DEVICES:-$SLURM_JOB_GPUS}"
  fi
  exec "$tool" exec "\${args[@]}"
)
code=$?
if [ "$stopped" = 1 ]; then exit "$code"; fi
`;
}
