// The GPU tier: the PyTorch GPU preset built and run through `mlc` on a machine with an NVIDIA GPU and a Docker
// engine that can hand it out. Elsewhere every test is skipped (pending, never passed), naming what is missing.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { machineEngine } from '../../src/core/docker/machine';
import { probeHostGpus } from '../../src/core/gpu/nvidiaSmi';
import { checkGpu } from '../../src/core/gpu/preflight';
import type { RunRecord } from '../../src/core/run/records';
import { readRuns } from '../../src/core/run/records';
import { git } from '../helpers/git';
import { assertBuiltCli, mlc } from '../helpers/mlc';

/** A local CUDA base with torch (and Jupyter, or pip access for it): the scaffold's FROM. */
const BASE = process.env.MLC_GPU_BASE;

// What each run prints: what torch sees, the limits the preset asks for, and the GPU env.
const PROBE = `import json, os, resource, torch
st = os.statvfs("/dev/shm")
print("PROBE " + json.dumps({
  "cuda": torch.cuda.is_available(),
  "count": torch.cuda.device_count(),
  "memlock": resource.getrlimit(resource.RLIMIT_MEMLOCK)[0],
  "shm": st.f_blocks * st.f_frsize,
  "visible": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
}))
`;

interface Probe {
  cuda: boolean;
  count: number;
  memlock: number;
  shm: number;
  visible: string | null;
}

/** Why this machine cannot run the tier, or undefined when it can. */
async function missing(engine: Engine): Promise<string | undefined> {
  try {
    await engine.ping();
  } catch (e) {
    return `no Docker engine answers (${e instanceof Error ? e.message : String(e)})`;
  }
  const host = await probeHostGpus();
  if (host.kind !== 'gpus') return `no NVIDIA GPU here (nvidia-smi: ${host.kind})`;
  if (!BASE) return 'MLC_GPU_BASE is not set (a local CUDA base image with torch, e.g. pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime)';
  const details = await engine.inspectImage(BASE);
  if (!details) return `MLC_GPU_BASE=${BASE} is not on this engine (docker pull or load it first)`;
  const preflight = await checkGpu({ engine, image: { ref: BASE, details } });
  return preflight.verdict.kind === 'works' ? undefined : `the GPU preflight says: ${preflight.verdict.sentence}`;
}

describe('GPU tier: the PyTorch GPU preset through mlc on a real GPU', function () {
  let dir: string;
  let gpuCount = 0;

  before(async function () {
    const engine = machineEngine(undefined, { timeoutMs: 10_000 });
    const why = await missing(engine);
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    assertBuiltCli();
    const host = await probeHostGpus();
    gpuCount = host.kind === 'gpus' ? host.gpus.length : 0;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-gpu-'));
    const init = await mlc(['init', '--preset', 'pytorch', '--variant', 'gpu', '--base-image', BASE!, '--yes', '--dir', dir]);
    assert.equal(init.code, 0, init.stderr);
    // As pytorch/pytorch's Dockerfile does: with the nvidia runtime as the engine's default, this alone gives GPUs.
    fs.appendFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), '\nENV NVIDIA_VISIBLE_DEVICES=all\n');
    fs.writeFileSync(path.join(dir, 'probe.py'), PROBE);
    fs.writeFileSync(path.join(dir, 'configs', 'sweep.yaml'), 'seed: [1, 2]\n');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'gpu tier');
    const build = await mlc(['build', '--no-lock'], { cwd: dir, timeoutMs: 1_200_000 });
    assert.equal(build.code, 0, build.stderr);
  });

  const run = async (gpu: string, extra: string[] = []): Promise<{ probe: Probe; record: RunRecord }> => {
    const r = await mlc(
      ['run', '--config', 'configs/experiment.yaml', '--gpu', gpu, '--shm-size', '2g', ...extra, '--', 'python3', 'probe.py'],
      { cwd: dir, timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const line = /^PROBE (.*)$/m.exec(r.stdout)?.[1];
    assert.ok(line, `no PROBE line in: ${r.stdout}`);
    const record = (await readRuns(dir)).runs.at(-1);
    assert.ok(record);
    return { probe: JSON.parse(line) as Probe, record };
  };

  it('--gpu all: torch sees every GPU, memlock is unlimited and /dev/shm as asked; the record says what it saw', async () => {
    const { probe, record } = await run('all');
    assert.equal(probe.cuda, true);
    assert.equal(probe.count, gpuCount);
    assert.equal(probe.memlock, -1, 'RLIM_INFINITY: memlock=-1 reached the container');
    assert.equal(probe.shm, 2 * 1024 ** 3);
    assert.equal(record.gpus, 'all');
    assert.equal(record.seenGpus?.length, gpuCount);
  });

  it('--gpu 0: torch sees one GPU, and the record names it', async () => {
    const { probe, record } = await run('0');
    assert.equal(probe.count, 1);
    assert.equal(record.gpus, '0');
    assert.equal(record.seenGpus?.length, 1);
  });

  it('--gpu none: no GPU, although the image sets NVIDIA_VISIBLE_DEVICES=all', async () => {
    const { probe, record } = await run('none');
    assert.equal(probe.cuda, false);
    assert.equal(probe.visible, 'void');
    assert.equal(record.gpus, 'none');
    assert.ok(!record.seenGpus?.length, `the record says the run saw ${JSON.stringify(record.seenGpus)}`);
  });

  it('a two-point sweep on two or more GPUs gives each run its own device', async function () {
    if (gpuCount < 2) {
      console.log(`      skipped: needs two GPUs, this machine has ${gpuCount}`);
      this.skip();
    }
    const r = await mlc(['run', '--config', 'configs/sweep.yaml', '--gpu', 'all', '--', 'python3', 'probe.py'], {
      cwd: dir,
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const runs = (await readRuns(dir)).runs.slice(-2);
    const uuids = runs.map((x) => x.seenGpus?.map((g) => g.uuid).join());
    assert.equal(new Set(uuids).size, 2, `both runs saw ${JSON.stringify(uuids)}`);
    assert.ok(runs.every((x) => x.seenGpus?.length === 1));
  });
});
