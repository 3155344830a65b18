// Apptainer is not installable on the test machine (Debian bookworm has no package): these tests read the script and
// the words it generates, and drive the SIF build through a fake of our own Exec.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { containerRequest } from '../../../../src/core/container/request';
import type { RunContainerInput } from '../../../../src/core/run/experiment';
import { runContainerSpec } from '../../../../src/core/run/experiment';
import { apptainerImage, apptainerSifPath, toApptainerArgs } from '../../../../src/core/backends/slurm/apptainer';
import { chooseRuntime } from '../../../../src/core/backends/slurm/runtime';
import { renderBatchScript } from '../../../../src/core/backends/slurm/script';
import { SlurmError } from '../../../../src/core/backends/slurm/slurm';
import { imageDetails } from '../../../helpers/images';
import { slurmTaskInput } from '../../../helpers/slurmTask';
import { recordingLogger, silentLogger } from '../../../helpers/logger';

const IMAGE = imageDetails({ env: ['PATH=/opt/conda/bin:/usr/bin:/bin'], entrypoint: ['/usr/bin/tini', '--'], cmd: ['bash'] });
const WS = '/home/u/dimuon';
const SIF = apptainerSifPath(WS, IMAGE.id);
const SECRET = { name: 'HF_TOKEN', value: 'hf_s3cr3t_value_123', secret: true };
const RUNTIME = {
  env: [{ name: 'WANDB_MODE', value: 'offline', secret: false }, SECRET],
  mounts: [],
  binds: [],
  ulimits: [],
  capAdd: [],
  devices: [],
  updateRemoteUserUID: false,
};

const taskInput = (n: number): RunContainerInput => slurmTaskInput(WS, n, IMAGE);

const script = (over: Partial<Parameters<typeof renderBatchScript>[0]> = {}): string =>
  renderBatchScript({
    planId: 'S',
    sweep: true,
    workspace: WS,
    tasks: [{ ...taskInput(1), runtime: RUNTIME }, taskInput(2)],
    slurm: {},
    recorder: { node: '/usr/bin/node', cli: '/opt/mlc/cli.js' },
    runtime: 'apptainer',
    sif: SIF,
    ...over,
  });

describe('Slurm tasks through Apptainer (the generated script; not run for real here)', () => {
  it("task i runs apptainer exec of the SIF with the run's binds, /workspace, the image's entrypoint before the command; variables by APPTAINERENV_, a secret by name only", () => {
    const lines = script().split('\n');
    const sif = SIF.replace(/:/g, '\\:');
    assert.ok(SIF.endsWith(`.mlcontainers/apptainer/${IMAGE.id.slice(7)}.sif`));
    assert.equal(
      lines.find((l) => l.startsWith('  1)')),
      `  1) run=S-1; keep=(HF_TOKEN); envs=(WANDB_MODE\\=offline MLC_CONFIG\\=/etc/mlc/config/exp.yaml MLC_RUN_ID\\=S-1 MLC_RUN_DIR\\=/workspace/.mlcontainers/runs/S-1 NVIDIA_VISIBLE_DEVICES\\=void PYTHONUNBUFFERED\\=1); ` +
        `args=(--cleanenv --no-home --bind /home/u/dimuon\\:/workspace --bind /home/u/dimuon/.mlcontainers\\:/workspace/.mlcontainers\\:ro --bind /home/u/dimuon/.mlcontainers/runs/S-1\\:/workspace/.mlcontainers/runs/S-1 --bind /home/u/dimuon/.mlcontainers/runs/S-1/exp.yaml\\:/etc/mlc/config/exp.yaml\\:ro --pwd /workspace ${sif} /usr/bin/tini -- python train.py) ;;`,
    );
    assert.match(
      lines.find((l) => l.startsWith('  2)'))!,
      /^ {2}2\) run=S-2; keep=\(\); envs=\(MLC_CONFIG/,
    );
    for (const golden of [
      'tool=$(command -v apptainer) || { echo "mlc: apptainer is not on PATH on node $(hostname): install Apptainer on the nodes, or submit with --runtime docker" >&2; exit 1; }',
      '"${mlc[@]}" start "$run" --job "$job" --gpus "${SLURM_JOB_GPUS:-none}" || exit 1',
      '  for e in "${envs[@]}"; do export "APPTAINERENV_$e"; done',
      '  for v in "${keep[@]}"; do export "APPTAINERENV_$v=${!v-}"; done',
      '    export "APPTAINERENV_NVIDIA_VISIBLE_DEVICES=$SLURM_JOB_GPUS" "APPTAINERENV_CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-$SLURM_JOB_GPUS}"',
      '  exec "$tool" exec "${args[@]}"',
      '"${mlc[@]}" finish "$run" --exit "$code"',
    ])
      assert.ok(lines.includes(golden), `the script has the line\n${golden}`);
    assert.ok(!script().includes('hf_s3cr3t_value_123'), 'the secret value is in no file');
    assert.ok(!script().includes('docker run'), 'no docker on the nodes');
  });

  it('asks for --nv only when the job asks Slurm for GPUs, which the container then gets instead of NVIDIA_VISIBLE_DEVICES=void', () => {
    const args = (s: string): string => /^ {2}1\) .*$/m.exec(s)![0];
    assert.doesNotMatch(args(script()), /--nv/);
    assert.match(args(script({ slurm: { gres: 'gpu:1' } })), /args=\(--nv --cleanenv /);
    assert.doesNotMatch(args(script({ slurm: { gres: 'gpu:1' } })), /NVIDIA_VISIBLE_DEVICES/);
  });

  it('under its older name, Singularity: singularity exec and SINGULARITYENV_', () => {
    const s = script({ runtime: 'singularity' });
    assert.match(s, /^tool=\$\(command -v singularity\)/m);
    assert.match(s, /^ {2}for e in "\$\{envs\[@\]\}"; do export "SINGULARITYENV_\$e"; done$/m);
    assert.doesNotMatch(s, /APPTAINERENV_/);
  });

  it("refuses what Apptainer cannot mount, and keeps the image's command when none is given", () => {
    const volume = containerRequest(
      runContainerSpec({ ...taskInput(1), runtime: { ...RUNTIME, mounts: [{ Type: 'volume', Source: 'cache', Target: '/cache' }] } }),
    );
    assert.throws(() => toApptainerArgs(volume, IMAGE, SIF), /Apptainer cannot mount a volume at \/cache: use a bind mount/);
    const bare = containerRequest(runContainerSpec({ ...taskInput(1), command: [] }));
    assert.deepEqual(toApptainerArgs(bare, IMAGE, SIF).args.slice(-3), ['/usr/bin/tini', '--', 'bash']);
  });

  it('builds the SIF once per image id from the .def mlc export apptainer writes, through a temporary file, from a name that must name that id', async () => {
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-apptainer-'));
    const calls: string[][] = [];
    let tagged = IMAGE.id;
    const exec = async (file: string, args: string[]): Promise<{ stdout: string; stderr: string }> => {
      if (file === 'docker') return { stdout: `${tagged}\n`, stderr: '' };
      calls.push([file, ...args]);
      fs.writeFileSync(args[2]!, 'SIF');
      return { stdout: '', stderr: '' };
    };
    const o = { workspace: ws, image: IMAGE, ref: 'dimuon:latest', tool: 'apptainer' as const, log: silentLogger('slurm'), exec };
    const sif = await apptainerImage(o);
    assert.equal(sif, apptainerSifPath(ws, IMAGE.id));
    const def = sif.replace(/\.sif$/, '.def');
    assert.deepEqual(calls, [['apptainer', 'build', '--force', `${sif}.tmp-${process.pid}`, def]]);
    assert.match(fs.readFileSync(def, 'utf8'), /^Bootstrap: docker-daemon\nFrom: dimuon:latest\n/);
    assert.equal(fs.readFileSync(sif, 'utf8'), 'SIF');
    await apptainerImage(o);
    assert.equal(calls.length, 1, 'built before: not again');
    tagged = `sha256:${'b'.repeat(64)}`;
    await assert.rejects(
      apptainerImage({ ...o, image: { ...IMAGE, id: `sha256:${'c'.repeat(64)}` } }),
      /dimuon:latest names another image \(bbbbbbbbbbbb\) than the one planned \(cccccccccccc\)/,
    );
    assert.equal(calls.length, 1);
  });

  it("writes the SIF's .def without a %setup a base image's label key would add, and warns of the label left out", async () => {
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-apptainer-'));
    const exec = async (file: string, args: string[]): Promise<{ stdout: string; stderr: string }> => {
      if (file === 'docker') return { stdout: `${IMAGE.id}\n`, stderr: '' };
      fs.writeFileSync(args[2]!, 'SIF');
      return { stdout: '', stderr: '' };
    };
    const lines: string[] = [];
    const image = { ...IMAGE, labels: { ...IMAGE.labels, 'org.mlcontainers.x\n%setup\nrm -rf ~': '1' } };
    const sif = await apptainerImage({
      workspace: ws,
      image,
      ref: 'dimuon:latest',
      tool: 'apptainer',
      log: recordingLogger(lines, 'slurm'),
      exec,
    });
    const def = fs.readFileSync(sif.replace(/\.sif$/, '.def'), 'utf8');
    assert.ok(!def.split('\n').some((l) => l.trim().startsWith('%setup')), def);
    assert.ok(!def.includes('rm -rf'));
    assert.ok(
      lines.some((l) => l.startsWith('warn') && l.includes('"org.mlcontainers.x\\n%setup\\nrm -rf ~"')),
      lines.join('\n'),
    );
    fs.rmSync(ws, { recursive: true, force: true });
  });

  it('a missing apptainer is one sentence naming the fix, at --runtime and at the build; found on PATH where docker does not answer', async () => {
    // docker does not answer; every other tool is not on PATH.
    const missing = async (file: string): Promise<never> => {
      throw Object.assign(new Error(`spawn ${file} ENOENT`), { code: 'ENOENT', path: file });
    };
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-apptainer-'));
    const pinned = async (file: string): Promise<{ stdout: string; stderr: string }> =>
      file === 'docker' ? { stdout: `${IMAGE.id}\n`, stderr: '' } : missing(file);
    await assert.rejects(
      apptainerImage({ workspace: ws, image: IMAGE, ref: 'dimuon:latest', tool: 'apptainer', log: silentLogger('slurm'), exec: pinned }),
      (e: unknown) =>
        e instanceof SlurmError &&
        /^apptainer is not on PATH: .* install Apptainer here and on the nodes \(https:\/\/apptainer\.org\/[^)]*\), or submit with --runtime docker or charliecloud\.$/.test(
          e.message,
        ),
    );
    assert.ok(!fs.readdirSync(path.join(ws, '.mlcontainers', 'apptainer')).some((f) => f.includes('.sif')), 'no SIF, finished or not');
    const onPath =
      (tools: string[]) =>
      async (t: string): Promise<boolean> =>
        tools.includes(t);
    await assert.rejects(chooseRuntime('apptainer', { onPath: onPath([]) }), /^SlurmError: apptainer is not on PATH: /);
    assert.equal(
      (await chooseRuntime('apptainer', { onPath: onPath([]), requireTool: false })).runtime,
      'apptainer',
      'a dry run prints the script without it',
    );
    const noDocker = { exec: missing, onPath: onPath(['apptainer', 'ch-run']) };
    assert.deepEqual(await chooseRuntime(undefined, noDocker), {
      runtime: 'apptainer',
      why: 'docker does not answer here and apptainer is on PATH',
    });
    assert.equal((await chooseRuntime(undefined, { exec: missing, onPath: onPath(['singularity']) })).runtime, 'singularity');
    assert.equal((await chooseRuntime('singularity', { onPath: onPath(['singularity']) })).runtime, 'singularity');
  });
});
