import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { containerRequest } from '../../../../src/core/container/request';
import type { RunContainerInput } from '../../../../src/core/run/experiment';
import { runContainerSpec } from '../../../../src/core/run/experiment';
import { charliecloudImage, charliecloudImageDir, toChRunArgs } from '../../../../src/core/backends/slurm/charliecloud';
import { chooseRuntime } from '../../../../src/core/backends/slurm/runtime';
import { renderBatchScript } from '../../../../src/core/backends/slurm/script';
import { SlurmError } from '../../../../src/core/backends/slurm/slurm';
import { imageDetails } from '../../../helpers/images';
import { slurmTaskInput } from '../../../helpers/slurmTask';
import { silentLogger } from '../../../helpers/logger';

const IMAGE = imageDetails({
  env: ['PATH=/opt/conda/bin:/usr/bin:/bin', 'LANG=C.UTF-8', 'HF_TOKEN=from-image'],
  entrypoint: ['/usr/bin/tini', '--'],
  cmd: ['bash'],
});
const WS = '/home/u/dimuon';
const CH = charliecloudImageDir(WS, IMAGE.id);
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

const taskInput = (n: number, over: Partial<RunContainerInput> = {}): RunContainerInput =>
  slurmTaskInput(WS, n, IMAGE, { command: ['python', 'train.py', '--epochs', '2'], ...over });

const fakeLog = silentLogger('slurm');

describe('Slurm tasks through Charliecloud', () => {
  it("renders the run request as ch-run: the binds, the image's then the run's variables, /workspace, the image's entrypoint before the command", () => {
    const request = containerRequest(runContainerSpec({ ...taskInput(2), runtime: RUNTIME }));
    const ch = toChRunArgs(request, IMAGE, CH, { secretEnv: new Set(['HF_TOKEN']) });
    // ch-run 0.31 has no read-only bind: .mlcontainers stays writable under Charliecloud, and the host-side checks
    // (core/run/runFolder.ts) are what protects the host there.
    assert.deepEqual(ch.args.slice(0, 8), [
      '-b',
      `${WS}:/workspace`,
      '-b',
      `${WS}/.mlcontainers:/workspace/.mlcontainers`,
      '-b',
      `${WS}/.mlcontainers/runs/S-2:/workspace/.mlcontainers/runs/S-2`,
      '-b',
      `${WS}/.mlcontainers/runs/S-2/exp.yaml:/etc/mlc/config/exp.yaml`,
    ]);
    for (const e of [
      'PATH=/opt/conda/bin:/usr/bin:/bin',
      'LANG=C.UTF-8',
      'WANDB_MODE=offline',
      'MLC_CONFIG=/etc/mlc/config/exp.yaml',
      'MLC_RUN_DIR=/workspace/.mlcontainers/runs/S-2',
      'MLC_RUN_ID=S-2',
      'NVIDIA_VISIBLE_DEVICES=void',
    ]) {
      assert.ok(ch.args.includes(`--set-env=${e}`), `${e} in ${ch.args.join(' ')}`);
    }
    assert.ok(ch.args.indexOf('--env-no-expand') < ch.args.findIndex((a) => a.startsWith('--set-env=')), 'a $ in a value stays as it is');
    assert.ok(!ch.args.some((a) => a.includes('HF_TOKEN')), "the secret (and the image's value of that name) is not set by the words");
    assert.deepEqual(ch.inherit, ['HF_TOKEN']);
    assert.deepEqual(ch.args.slice(ch.args.indexOf('--cd')), [
      '--cd',
      '/workspace',
      CH,
      '--',
      '/usr/bin/tini',
      '--',
      'python',
      'train.py',
      '--epochs',
      '2',
    ]);
    assert.deepEqual(
      ch.mountPoints.map((m) => m.target),
      ['/workspace', '/workspace/.mlcontainers', '/workspace/.mlcontainers/runs/S-2', '/etc/mlc/config/exp.yaml'],
    );
  });

  it("keeps the image's command when none is given, and refuses what ch-run cannot mount", () => {
    const request = containerRequest(runContainerSpec({ ...taskInput(1), command: [] }));
    assert.deepEqual(toChRunArgs(request, IMAGE, CH).args.slice(-4), ['--', '/usr/bin/tini', '--', 'bash']);
    assert.throws(() => toChRunArgs(request, imageDetails(), CH), /no command to run/);
    const volume = containerRequest(
      runContainerSpec({ ...taskInput(1), runtime: { ...RUNTIME, mounts: [{ Type: 'volume', Source: 'cache', Target: '/cache' }] } }),
    );
    assert.throws(() => toChRunArgs(volume, IMAGE, CH), /Charliecloud cannot mount a volume at \/cache: use a bind mount/);
  });

  it('the batch script runs ch-run of the directory image with a cleared environment that keeps the secrets by name', () => {
    const s = renderBatchScript({
      planId: 'S',
      sweep: true,
      workspace: WS,
      tasks: [{ ...taskInput(1), runtime: RUNTIME }, taskInput(2)],
      slurm: { parallel: 2 },
      recorder: { node: '/usr/bin/node', cli: '/opt/mlc/cli.js' },
      runtime: 'charliecloud',
      charliecloudImage: CH,
    });
    assert.match(s, /^ {2}1\) run=S-1; keep=\(HF_TOKEN\); args=\(.*--cd \/workspace /m);
    assert.match(s, /^ {2}2\) run=S-2; keep=\(\); args=\(/m);
    assert.ok(!s.includes('hf_s3cr3t_value_123'), 'the secret value is not in the script');
    assert.ok(!/docker (run|rm)/.test(s), 'no docker on the node');
    assert.match(s, /case " USER \$\{keep\[\*\]\} " in \*" \$v "\*\) ;; \*\) unset "\$v"/);
    assert.match(s, /exec "\$chrun" "\$\{gpus\[@\]\}" "\$\{args\[@\]\}"/);
    assert.match(s, /--set-env=CUDA_VISIBLE_DEVICES=\$\{CUDA_VISIBLE_DEVICES:-\$SLURM_JOB_GPUS\}/);
    assert.ok(s.indexOf('start "$run"') < s.indexOf('exec "$chrun"') && s.indexOf('exec "$chrun"') < s.indexOf('finish "$run"'));
    assert.ok(s.indexOf('if [ "$stopped" = 1 ]') < s.indexOf('finish "$run"'), 'a stopped task writes no final line of its own');
  });

  it('converts the image once per id, into a folder renamed into place, and makes the bind destinations in it', async () => {
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-ch-'));
    const config = path.join(ws, 'exp.yaml');
    fs.writeFileSync(config, 'lr: 1\n');
    const calls: string[][] = [];
    let tagged = IMAGE.id;
    const exec = async (file: string, args: string[]): Promise<{ stdout: string; stderr: string }> => {
      if (file === 'docker') return { stdout: `${tagged}\n`, stderr: '' };
      calls.push([file, ...args]);
      fs.mkdirSync(path.join(args[3]!, 'ch'), { recursive: true });
      return { stdout: '', stderr: '' };
    };
    const mountPoints = [
      { source: ws, target: '/workspace' },
      { source: config, target: '/etc/mlc/config/exp.yaml' },
    ];
    const dir = await charliecloudImage({ workspace: ws, image: IMAGE, ref: 'dimuon:latest', mountPoints, log: fakeLog, exec });
    assert.equal(dir, path.join(ws, '.mlcontainers', 'charliecloud', IMAGE.id.slice(7)));
    assert.deepEqual(calls, [['ch-convert', '-i', 'docker', 'dimuon:latest', `${dir}.tmp-${process.pid}`]]);
    assert.ok(fs.statSync(path.join(dir, 'workspace')).isDirectory());
    assert.ok(fs.statSync(path.join(dir, 'etc', 'mlc', 'config', 'exp.yaml')).isFile());
    assert.ok(!fs.existsSync(`${dir}.tmp-${process.pid}`));
    await charliecloudImage({ workspace: ws, image: IMAGE, ref: 'dimuon:latest', mountPoints, log: fakeLog, exec });
    assert.equal(calls.length, 1, 'converted before: not again');
    const other = { ...IMAGE, id: `sha256:${'b'.repeat(64)}` };
    await assert.rejects(
      charliecloudImage({ workspace: ws, image: other, ref: 'dimuon:latest', mountPoints: [], log: fakeLog, exec }),
      /dimuon:latest names another image \(27f51f9ea9f7\) than the one planned \(bbbbbbbbbbbb\)/,
    );
    assert.equal(calls.length, 1, 'a name that moved to another image is not converted');
    tagged = other.id;
    await charliecloudImage({ workspace: ws, image: other, ref: 'dimuon:latest', mountPoints: [], log: fakeLog, exec });
    assert.equal(calls.length, 2, 'another image id is converted');
  });

  it('a failed conversion leaves nothing to reuse and says what to check', async () => {
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-ch-'));
    const exec = async (file: string, args: string[]): Promise<{ stdout: string; stderr: string }> => {
      if (file === 'docker') return { stdout: IMAGE.id, stderr: '' };
      fs.mkdirSync(path.join(args[3]!, 'ch'), { recursive: true });
      throw Object.assign(new Error('exit 1'), { stderr: 'ch-convert[1]: error: source not found in Docker storage: dimuon:latest\n' });
    };
    await assert.rejects(
      charliecloudImage({ workspace: ws, image: IMAGE, ref: 'dimuon:latest', mountPoints: [], log: fakeLog, exec }),
      /Could not convert dimuon:latest for Charliecloud \(.*source not found.*\): .*docker image ls dimuon:latest/,
    );
    assert.deepEqual(fs.readdirSync(path.join(ws, '.mlcontainers', 'charliecloud')), []);
    const missing = async (): Promise<never> => {
      throw Object.assign(new Error('spawn docker ENOENT'), { code: 'ENOENT', path: 'docker' });
    };
    await assert.rejects(
      charliecloudImage({ workspace: ws, image: IMAGE, ref: 'dimuon:latest', mountPoints: [], log: fakeLog, exec: missing }),
      /docker is not on PATH: Charliecloud's ch-convert converts the image once, through the docker CLI/,
    );
  });

  it('picks docker where it answers, else Charliecloud where ch-run is (and nothing else is), and says why', async () => {
    const answering = (ok: string[]) => ({
      exec: async (file: string): Promise<{ stdout: string; stderr: string }> => {
        if (ok.includes(file)) return { stdout: '', stderr: '' };
        throw new Error(`${file}: no`);
      },
      onPath: async (file: string): Promise<boolean> => ok.includes(file),
    });
    assert.deepEqual(await chooseRuntime(undefined, answering(['docker', 'ch-run'])), {
      runtime: 'docker',
      why: 'docker answers on this host',
    });
    assert.equal((await chooseRuntime(undefined, answering(['ch-run']))).runtime, 'charliecloud');
    await assert.rejects(
      chooseRuntime(undefined, answering([])),
      /Neither docker, Apptainer \(apptainer, singularity\) nor Charliecloud \(ch-run\) is usable/,
    );
    assert.equal((await chooseRuntime('charliecloud', answering([]))).runtime, 'charliecloud');
    await assert.rejects(
      chooseRuntime('podman'),
      (e: unknown) =>
        e instanceof SlurmError && /--runtime takes docker, charliecloud, apptainer, singularity, not "podman"/.test(e.message),
    );
  });
});
