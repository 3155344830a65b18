// One run across several Slurm nodes (mlc run --on slurm --nodes N [--launcher torchrun]): the batch script, line by
// line, for Docker, Apptainer and Charliecloud; the flags; the record's nodes; each node's output file. The script
// running on two real nodes is the Docker tier's (test/docker/slurmMultiNode.test.ts).
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { multiNodeOptions } from '../../../../src/core/backends/slurm/backend';
import { apptainerSifPath } from '../../../../src/core/backends/slurm/apptainer';
import { charliecloudImageDir } from '../../../../src/core/backends/slurm/charliecloud';
import { gresGpuCount, renderBatchScript, torchrunCommand } from '../../../../src/core/backends/slurm/script';
import { SlurmError } from '../../../../src/core/backends/slurm/slurm';
import { appendNodeOutput, nodeFailure, recordTaskEnd, recordTaskStart } from '../../../../src/core/backends/slurm/tasks';
import type { RunContainerInput } from '../../../../src/core/run/experiment';
import { appendRun, readRuns } from '../../../../src/core/run/records';
import { makeRunFolder } from '../../../../src/core/run/runFolder';
import { imageDetails } from '../../../helpers/images';
import { slurmTaskInput } from '../../../helpers/slurmTask';
import { silentLogger } from '../../../helpers/logger';
import { startedRecord } from '../../../helpers/runRecords';

const IMAGE = imageDetails();
const WS = '/home/u/dimuon';

const taskInput = (n: number, command = ['python', 'train.py']): RunContainerInput => slurmTaskInput(WS, n, IMAGE, { command });

const script = (over: Partial<Parameters<typeof renderBatchScript>[0]> = {}): string =>
  renderBatchScript({
    planId: 'S',
    sweep: true,
    workspace: WS,
    tasks: [taskInput(1), taskInput(2)],
    slurm: {},
    recorder: { node: '/usr/bin/node', cli: '/opt/mlc/cli.js' },
    multiNode: { nodes: 2 },
    ...over,
  });

/** The lines of the script from the one that starts with `from` to the one that starts with `to`, both in. */
function section(s: string, from: string, to: string): string[] {
  const lines = s.split('\n');
  const a = lines.findIndex((l) => l.startsWith(from));
  const b = lines.findIndex((l, i) => i > a && l.startsWith(to));
  assert.ok(a >= 0 && b > a, `${from} … ${to} in\n${s}`);
  return lines.slice(a, b + 1);
}

/** What every runtime's script does around its node's container: the node's part, the rendezvous, srun, the end. */
const NODE_HEAD = [
  'ends=/home/u/dimuon/.mlcontainers/sweeps/S.nodes',
  'if [ "${1:-}" = --node ]; then',
  "  # One node's share, started by srun: its rank is its place in the allocation, rank 0 the node this script began on.",
  '  export NODE_RANK=$SLURM_NODEID',
  '  rank=$SLURM_NODEID',
  '  [ "$rank" = 0 ] || name=$name-$rank',
  "  # This node's GPUs are the step's (srun sets them per node); what follows reads them where a one-node task does.",
  '  export SLURM_JOB_GPUS=${SLURM_STEP_GPUS:-${SLURM_JOB_GPUS:-}}',
];
const NODE_TAIL = [
  `  printf '%s %s %s %s\\n' "$(date +%s%N)" "$rank" "\${SLURMD_NODENAME:-$(hostname)}" "$code" >"$ends/$job.$rank"`,
  '  # Its output is all in the log once mlc has read to the end of it.',
  '  exec >&- 2>&-',
  '  wait $!',
  '  exit "$code"',
  'fi',
  "# The rendezvous: rank 0's node, the first of the allocation (where this script runs), and a port free on it (tasks",
  '# of one sweep that share a first node start from different ports, as they may start at the same moment).',
  'nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))',
  'export MASTER_ADDR=${nodes[0]} NNODES=${#nodes[@]} MLC_RDZV_ID=$job',
  'port=$((29500 + (SLURM_ARRAY_JOB_ID * 64 + task) % 2000))',
  'while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done',
  'export MASTER_PORT=$port',
  '"${mlc[@]}" start "$run" --job "$job" --gpus "${SLURM_JOB_GPUS:-none}" --nodes "$(IFS=,; echo "${nodes[*]}")" || exit 1',
  'mkdir -p "$ends" && rm -f "$ends/$job".*',
  "# scancel and the time limit reach srun and every node's share, which removes its container; the record is then left",
  '# to `mlc runs`, which asks sacct how the task ended.',
  'stopped=0',
  "trap 'stopped=1' TERM",
  'srun --nodes="$NNODES" --ntasks="$NNODES" --ntasks-per-node=1 --kill-on-bad-exit=1 bash /home/u/dimuon/.mlcontainers/sweeps/S.sbatch --node',
  'code=$?',
  'if [ "$stopped" = 1 ]; then exit "$code"; fi',
  "# The node that failed first (srun ended the others after it) is the run's cause: its rank, name and exit code.",
  `first=$(cat "$ends/$job".* 2>/dev/null | sort -n | awk '$4 != 0 { print $2, $3, $4; exit }')`,
  'failed=()',
  'if [ -n "$first" ]; then',
  '  read -r frank fnode fcode <<<"$first"',
  '  failed=(--failed-rank "$frank" --failed-node "$fnode")',
  '  code=$fcode',
  'fi',
  '"${mlc[@]}" finish "$run" --exit "$code" "${failed[@]}"',
  'exit "$code"',
];

describe('Slurm: one run across several nodes', () => {
  it('Docker, --nodes 2: one allocation of 2 nodes, a container per node on the host network with the rendezvous and SLURM_* variables', () => {
    const s = script();
    assert.match(s, /^#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1$/m);
    assert.match(s, /^# Written by ML Containers \(mlc run --on slurm\): sweep S, 2 runs, one array task each, on 2 nodes\.$/m);
    assert.deepEqual(section(s, 'ends=', '  export SLURM_JOB_GPUS'), NODE_HEAD);
    assert.deepEqual(section(s, '  node=(', '  exec > >('), [
      '  node=(--network host --hostname "$(hostname)")',
      `  for v in MASTER_ADDR MASTER_PORT NNODES NODE_RANK MLC_RDZV_ID $(compgen -e | grep '^SLURM_'); do node+=(-e "$v"); done`,
      '  exec > >("${mlc[@]}" log "$run" --rank "$rank") 2>&1',
    ]);
    // The one-node task's container lines, indented, with the node's words before the run's; no start record here.
    const docker = s.split('\n').filter((l) => l.includes('docker run --name'));
    assert.deepEqual(docker, [
      '  { docker run --name "$name" --label "org.mlcontainers.run.job=$job" "${node[@]}" "${gpus[@]}" "${limits[@]}" "${args[@]}" 2>&1 1>&3 3>&- | tee "$err" >&2; } 3>&1',
      '    docker run --name "$name" --label "org.mlcontainers.run.job=$job" "${node[@]}" "${gpus[@]}" "${limits[@]}" "${lowmem[@]}"',
    ]);
    assert.equal(s.split('\n').filter((l) => l.includes('"${mlc[@]}" start')).length, 1, 'the start is recorded once, by the batch script');
    assert.deepEqual(section(s, `  printf '%s`, 'exit "$code"'), NODE_TAIL);
    // The command is the user's: without --launcher it launches itself from the variables.
    assert.match(s, /^ {2}1\) run=S-1; args=\(.* python train\.py\) ;;$/m);
    execFileSync('bash', ['-n'], { input: s });
  });

  it('a one-node run is the script it was before --nodes existed', () => {
    const s = script({ multiNode: undefined });
    assert.doesNotMatch(s, /--nodes|srun|node\[@\]|NODE_RANK/);
    assert.match(s, /^"\$\{mlc\[@\]\}" start "\$run" --job "\$job" --gpus "\$\{SLURM_JOB_GPUS:-none\}" \|\| exit 1$/m);
    assert.match(s, /^"\$\{mlc\[@\]\}" finish "\$run" --exit "\$code"\nexit "\$code"\n$/m);
  });

  it('--launcher torchrun wraps the command: torchrun per node, a process per GPU of --gres (one on CPU), c10d on the first node', () => {
    const line = (gres?: string): string =>
      /^ {2}1\) .*$/m.exec(script({ multiNode: { nodes: 2, launcher: 'torchrun' }, slurm: gres ? { gres } : {} }))![0];
    const wrapped = (n: number): string =>
      ` sh -c 'host=0; [ "$NODE_RANK" = 0 ] && host=1; exec torchrun --nnodes "$NNODES" --nproc_per_node ${n} --rdzv_backend c10d --rdzv_endpoint "$MASTER_ADDR:$MASTER_PORT" --rdzv_id "$MLC_RDZV_ID" --rdzv_conf "is_host=$host" --no_python "$@"' torchrun python train.py) ;;`;
    assert.ok(line().endsWith(wrapped(1)), line());
    assert.ok(line('gpu:4').endsWith(wrapped(4)), line('gpu:4'));
    assert.deepEqual(
      [gresGpuCount(undefined), gresGpuCount('gpu'), gresGpuCount('gpu:a100:2'), gresGpuCount('shard:1,gres/gpu:3')],
      [0, 1, 2, 3],
    );
    // What sh runs, with the variables a node's container gets: torchrun's words, then COMMAND as given.
    // Node rank 0 hosts the rendezvous store (is_host=1), the others join it (is_host=0).
    const [, , shLine, argv0, ...cmd] = torchrunCommand(['python', 'train.py', '--lr', "0.1 'x'"], 2);
    const argv = (rank: string): string[] =>
      execFileSync('sh', ['-c', shLine!.replace('exec torchrun', 'printf "%s\\n" torchrun'), argv0!, ...cmd], {
        env: { PATH: process.env.PATH, NNODES: '2', NODE_RANK: rank, MASTER_ADDR: 'node-a', MASTER_PORT: '29512', MLC_RDZV_ID: '12_1' },
        encoding: 'utf8',
      })
        .trimEnd()
        .split('\n');
    assert.deepEqual(argv('1').join(' '), argv('0').join(' ').replace('is_host=1', 'is_host=0'));
    assert.deepEqual(argv('0'), [
      'torchrun',
      '--nnodes',
      '2',
      '--nproc_per_node',
      '2',
      '--rdzv_backend',
      'c10d',
      '--rdzv_endpoint',
      'node-a:29512',
      '--rdzv_id',
      '12_1',
      '--rdzv_conf',
      'is_host=1',
      '--no_python',
      'python',
      'train.py',
      '--lr',
      "0.1 'x'",
    ]);
    assert.throws(
      () => script({ tasks: [taskInput(1, [])], multiNode: { nodes: 2, launcher: 'torchrun' } }),
      (e: unknown) => e instanceof SlurmError && /needs the command it launches after --/.test(e.message),
    );
  });

  it('Apptainer and Charliecloud, --nodes 2: the node keeps the rendezvous and SLURM_* variables through the environment it clears', () => {
    for (const s of [
      script({ runtime: 'apptainer', sif: apptainerSifPath(WS, IMAGE.id) }),
      script({ runtime: 'charliecloud', charliecloudImage: charliecloudImageDir(WS, IMAGE.id) }),
    ]) {
      assert.match(s, /^#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1$/m);
      assert.deepEqual(section(s, 'ends=', '  export SLURM_JOB_GPUS'), NODE_HEAD);
      assert.deepEqual(section(s, '  keep+=(', '  exec > >('), [
        `  keep+=(MASTER_ADDR MASTER_PORT NNODES NODE_RANK MLC_RDZV_ID $(compgen -e | grep '^SLURM_'))`,
        '  exec > >("${mlc[@]}" log "$run" --rank "$rank") 2>&1',
      ]);
      assert.deepEqual(section(s, `  printf '%s`, 'exit "$code"'), NODE_TAIL);
      assert.doesNotMatch(s, /--network host/);
      assert.equal(s.split('\n').filter((l) => l.includes('"${mlc[@]}" start')).length, 1);
      execFileSync('bash', ['-n'], { input: s });
    }
  });

  it('--nodes and --launcher: a whole number and torchrun, else one sentence; one node without a launcher is a plain run', () => {
    assert.deepEqual(multiNodeOptions({ nodes: '2', launcher: 'torchrun' }), { nodes: 2, launcher: 'torchrun' });
    assert.deepEqual(multiNodeOptions({ nodes: '3' }), { nodes: 3 });
    assert.deepEqual(multiNodeOptions({ launcher: 'torchrun' }), { nodes: 1, launcher: 'torchrun' });
    assert.equal(multiNodeOptions({ nodes: '1' }), undefined);
    assert.equal(multiNodeOptions({}), undefined);
    assert.throws(() => multiNodeOptions({ nodes: 'two' }), /--nodes wants a whole number of nodes, such as --nodes 2, not "two"/);
    assert.throws(() => multiNodeOptions({ nodes: '0' }), /--nodes wants a whole number/);
    assert.throws(() => multiNodeOptions({ launcher: 'mpirun' }), /--launcher takes torchrun .* not "mpirun"/);
  });
});

describe('Slurm: a multi-node run on record', () => {
  const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-multinode-'));
  const nodes = { count: 2, gpusPerNode: 0, launcher: 'torchrun' as const };

  it('names its nodes when it starts, and the node that failed first when it ends', async () => {
    const ws = tmp();
    await appendRun(ws, startedRecord('R', { backend: 'slurm', job: { id: '7_1', state: 'PENDING', queued: true }, nodes }));
    await recordTaskStart({ workspace: ws, runId: 'R', job: '7_1', gpus: 'none', nodes: ['vm', 'vm-2'] });
    let r = (await readRuns(ws)).runs.find((x) => x.id === 'R')!;
    assert.deepEqual(r.nodes, { ...nodes, names: ['vm', 'vm-2'] });
    await recordTaskEnd({ workspace: ws, runId: 'R', exitCode: 137, failedNode: { rank: 1, name: 'vm-2' }, log: silentLogger('t') });
    r = (await readRuns(ws)).runs.find((x) => x.id === 'R')!;
    assert.equal(r.status, 'failed');
    assert.match(
      r.error!,
      /^node vm-2 \(rank 1\) was killed \(exit code 137\), and the other node was stopped: its output is in output\.1\.log/,
    );
    assert.equal(
      nodeFailure({ rank: 2, name: 'n3' }, 1, 4),
      'node n3 (rank 2) exited with code 1, and the other nodes were stopped: its output is in output.2.log',
    );
  });

  it("a record's nodes that are not counts and host names are not read back", async () => {
    const ws = tmp();
    await appendRun(ws, startedRecord('A', { nodes: { count: 2, gpusPerNode: 1, names: ['a', 'b'] } }));
    await appendRun(ws, startedRecord('B', { nodes: { count: 2, gpusPerNode: 1, names: ['a', '\u001b]52;c;x\u0007'] } }));
    await appendRun(ws, startedRecord('C', { nodes: { count: -1, gpusPerNode: 1 } }));
    assert.deepEqual(
      (await readRuns(ws)).runs.map((r) => r.id),
      ['A'],
    );
  });

  it("each node's output goes to output.<rank>.log, never through a link the container left there; rank 0's is echoed", async () => {
    const ws = tmp();
    const dir = await makeRunFolder(ws, 'R');
    const outside = path.join(ws, 'outside.txt');
    fs.writeFileSync(outside, 'keep\n');
    fs.symlinkSync(outside, path.join(dir, 'output.1.log'));
    const echoed: Buffer[] = [];
    await appendNodeOutput({ workspace: ws, runId: 'R', rank: 1, input: Readable.from([Buffer.from('rank 1 of 2\n')]) });
    await appendNodeOutput({
      workspace: ws,
      runId: 'R',
      rank: 0,
      input: Readable.from([Buffer.from('rank 0 '), Buffer.from('of 2\n')]),
      echo: (b) => echoed.push(b),
    });
    assert.equal(fs.readFileSync(outside, 'utf8'), 'keep\n', 'the link was not followed');
    assert.ok(!fs.lstatSync(path.join(dir, 'output.1.log')).isSymbolicLink());
    assert.equal(fs.readFileSync(path.join(dir, 'output.1.log'), 'utf8'), 'rank 1 of 2\n');
    assert.equal(fs.readFileSync(path.join(dir, 'output.0.log'), 'utf8'), 'rank 0 of 2\n');
    assert.equal(Buffer.concat(echoed).toString(), 'rank 0 of 2\n');
  });

  it("the node log outlives scancel's TERM and a gone srun: it keeps what the share writes after them, then exits 0", async function () {
    // scancel TERMs every process of the share at once; had this one died first, the share's shell and docker would
    // have died of SIGPIPE before removing the container (caught in the Docker tier's stop test).
    this.timeout(30_000);
    const ws = tmp();
    await makeRunFolder(ws, 'R');
    const cli = path.join(__dirname, '..', '..', '..', '..', 'src', 'cli', 'main.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'slurm-task', '--dir', ws, 'log', 'R', '--rank', '0'], {
      cwd: path.join(__dirname, '..', '..', '..', '..'),
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.stdin.write('before\n');
    // Its echo of the first line says it is reading; then srun goes (its pipe closed) and TERM comes.
    await new Promise((resolve) => child.stdout.once('data', resolve));
    child.stdout.destroy();
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.stdin.end('after\n');
    assert.equal(await exited, 0);
    assert.equal(fs.readFileSync(path.join(ws, '.mlcontainers', 'runs', 'R', 'output.0.log'), 'utf8'), 'before\nafter\n');
    fs.rmSync(ws, { recursive: true, force: true });
  });
});
