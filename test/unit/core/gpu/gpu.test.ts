import * as assert from 'node:assert/strict';
import type { EngineInfo, EngineVersion } from '../../../../src/core/docker/engine';
import { compareDriverVersions, cudaFromImageEnv, driverVerdict, newestSupportedCuda } from '../../../../src/core/gpu/cuda';
import { archsCover, pytorchArchsForCuda } from '../../../../src/core/gpu/cudaArchs';
import { imageGpuFacts } from '../../../../src/core/gpu/imageCuda';
import type { HostGpuProbe } from '../../../../src/core/gpu/nvidiaSmi';
import {
  NVIDIA_SMI_ARGS,
  NVIDIA_SMI_ARGS_CC,
  interpretNvidiaSmi,
  parseNvidiaSmiCsv,
  probeHostGpus,
} from '../../../../src/core/gpu/nvidiaSmi';
import type { ImageArchs, PreflightInput } from '../../../../src/core/gpu/preflight';
import { checkGpu, explainGpuRefusal, formatPreflight, gpuPreflight, gpuVerdict } from '../../../../src/core/gpu/preflight';
import { noToolkit, nvidiaGpuDevices, probeToolkit } from '../../../../src/core/gpu/toolkit';
import { lockArchs, writeLock } from '../../../../src/core/provenance/lock';
import { parseCatalog } from '../../../../src/core/scaffold/catalog';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { presetCatalog } from '../../../helpers/catalog';
import { FakeEngine } from '../../fakes/engine';

// Outputs in nvidia-smi's own format (`--format=csv,noheader`), as printed by drivers 470–575.
const H100 = '0, NVIDIA H100 80GB HBM3, GPU-5b9c4e0e-4f4e-9a3b-6d8b-2f1e7c0a9d11, 550.90.07, 81559 MiB\n';
const EIGHT_A100 =
  Array.from(
    { length: 8 },
    (_, i) => `${i}, NVIDIA A100-SXM4-80GB, GPU-0000000${i}-aaaa-bbbb-cccc-dddddddddddd, 535.104.05, 81920 MiB`,
  ).join('\n') + '\n';
const NO_DEVICES = 'No devices were found\n';
const NOT_LOADED =
  "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n";

const version: EngineVersion = {
  version: '20.10.24',
  apiVersion: '1.41',
  os: 'linux',
  arch: 'amd64',
  components: ['Engine'],
  isPodman: false,
};
const info: EngineInfo = {
  name: 'host',
  serverVersion: '20.10.24',
  storageDriver: 'overlay2',
  operatingSystem: 'Debian GNU/Linux 12',
  osType: 'linux',
  architecture: 'x86_64',
  cpus: 2,
  memTotal: 2 ** 34,
  runtimes: ['io.containerd.runc.v2', 'runc'],
  cdiSpecDirs: [],
  discoveredDevices: [],
  rootless: false,
};
const withRuntime: EngineInfo = { ...info, runtimes: ['nvidia', 'runc'] };
const gpus = (csv: string): HostGpuProbe => interpretNvidiaSmi({ code: 0, stdout: csv, stderr: '' });

function preflight(overrides: Partial<PreflightInput>) {
  return gpuPreflight({ info: withRuntime, version, host: gpus(H100), ...overrides });
}

describe('nvidia-smi parsing', () => {
  it('reads one GPU: index, name, uuid, driver and memory', () => {
    assert.deepEqual(parseNvidiaSmiCsv(H100), [
      {
        index: '0',
        name: 'NVIDIA H100 80GB HBM3',
        uuid: 'GPU-5b9c4e0e-4f4e-9a3b-6d8b-2f1e7c0a9d11',
        driverVersion: '550.90.07',
        memoryMiB: 81559,
      },
    ]);
  });

  it('reads eight GPUs and takes the driver from them', () => {
    const probe = gpus(EIGHT_A100);
    assert.equal(probe.kind, 'gpus');
    if (probe.kind !== 'gpus') return;
    assert.equal(probe.gpus.length, 8);
    assert.deepEqual(
      probe.gpus.map((g) => g.index),
      ['0', '1', '2', '3', '4', '5', '6', '7'],
    );
    assert.equal(probe.driverVersion, '535.104.05');
  });

  it('keeps commas inside a name, [N/A] memory, CRLF line ends and memory without units', () => {
    const [g] = parseNvidiaSmiCsv('0, Quadro RTX 4000, with Max-Q Design, GPU-abc, 470.82.01, [N/A]\r\n');
    assert.equal(g?.name, 'Quadro RTX 4000, with Max-Q Design');
    assert.equal(g?.memoryMiB, undefined);
    assert.equal(parseNvidiaSmiCsv('1, Tesla T4, GPU-1, 525.60.13, 15360\n')[0]?.memoryMiB, 15360);
  });

  it('"No devices were found" (exit 6) is no devices, not a parse error', () => {
    assert.deepEqual(interpretNvidiaSmi({ code: 6, stdout: NO_DEVICES, stderr: '' }), { kind: 'noDevices' });
  });

  it("a driver that is not loaded (exit 9) is reported with nvidia-smi's words", () => {
    const probe = interpretNvidiaSmi({ code: 9, stdout: NOT_LOADED, stderr: '' });
    assert.equal(probe.kind, 'driverNotLoaded');
    assert.match(probe.kind === 'driverNotLoaded' ? probe.detail : '', /couldn't communicate with the NVIDIA driver/);
  });

  it('a missing nvidia-smi is "not installed"; garbage is a failure with the line', async () => {
    const enoent = Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' });
    assert.deepEqual(await probeHostGpus(() => Promise.reject(enoent)), { kind: 'notInstalled' });
    const probe = interpretNvidiaSmi({ code: 0, stdout: 'Segmentation fault\n', stderr: '' });
    assert.equal(probe.kind, 'failed');
  });

  it('asks nvidia-smi for exactly the fields it parses, compute capability last', async () => {
    const asked: string[][] = [];
    const probe = await probeHostGpus(
      (file, args) => (asked.push([file, ...args]), Promise.resolve({ code: 0, stdout: `${H100.trimEnd()}, 9.0\n`, stderr: '' })),
    );
    assert.deepEqual(asked, [['nvidia-smi', ...NVIDIA_SMI_ARGS_CC]]);
    assert.deepEqual(NVIDIA_SMI_ARGS_CC, ['--query-gpu=index,name,uuid,driver_version,memory.total,compute_cap', '--format=csv,noheader']);
    assert.equal(probe.kind === 'gpus' ? probe.gpus[0]?.computeCap : undefined, '9.0');
    assert.equal(probe.kind === 'gpus' ? probe.gpus[0]?.name : undefined, 'NVIDIA H100 80GB HBM3');
  });

  it('a driver whose nvidia-smi lacks compute_cap (before 510) is asked again without it', async () => {
    const asked: string[][] = [];
    const probe = await probeHostGpus((file, args) => {
      asked.push([file, ...args]);
      return Promise.resolve(
        args[0]?.includes('compute_cap')
          ? { code: 2, stdout: 'Field "compute_cap" is not a valid field to query.\n\n', stderr: '' }
          : { code: 0, stdout: '0, Tesla T4, GPU-1, 470.82.01, 15360 MiB\n', stderr: '' },
      );
    });
    assert.deepEqual(asked, [
      ['nvidia-smi', ...NVIDIA_SMI_ARGS_CC],
      ['nvidia-smi', ...NVIDIA_SMI_ARGS],
    ]);
    assert.deepEqual(probe, {
      kind: 'gpus',
      driverVersion: '470.82.01',
      gpus: [{ index: '0', name: 'Tesla T4', uuid: 'GPU-1', driverVersion: '470.82.01', memoryMiB: 15360 }],
    });
  });
});

describe('driver ↔ CUDA verdicts', () => {
  const cases: [driver: string, cuda: string, kind: string][] = [
    ['550.54.14', '12.4', 'ok'], // exactly the toolkit's driver
    ['550.54.13', '12.4', 'minorCompat'], // one patch below: minor-version compatibility
    ['525.60.13', '12.4', 'minorCompat'], // the 12.x floor
    ['525.60.12', '12.4', 'tooOld'],
    ['520.61.05', '12.1', 'tooOld'], // an 11.x driver cannot run 12.x
    ['470.82.01', '11.8', 'minorCompat'],
    ['450.80.02', '11.8', 'minorCompat'], // the 11.x floor
    ['450.80.01', '11.8', 'tooOld'],
    ['520.61.05', '11.8', 'ok'],
    ['575.57.08', '13.0', 'tooOld'], // CUDA 13 needs the R580 branch
    ['580.65.06', '13.0', 'ok'],
    ['440.33', '10.2', 'ok'],
    ['440.32', '10.2', 'tooOld'], // no minor-version compatibility before CUDA 11
    ['560.35.03', '12.6', 'ok'],
    ['545.23.06', '12.6', 'minorCompat'],
    ['570.26', '12.8', 'ok'], // the first driver that runs Blackwell builds
    ['580.65.06', '13.0', 'ok'],
    ['575.51.03', '13.0', 'tooOld'], // CUDA 13 needs the 580 family even through minor-version compatibility
    ['590.44.01', '13.2', 'minorCompat'],
    ['595.45.04', '13.2', 'ok'],
  ];
  for (const [driver, cuda, kind] of cases) {
    it(`driver ${driver} with CUDA ${cuda}: ${kind}`, () => {
      assert.equal(driverVerdict(driver, cuda).kind, kind);
    });
  }

  it('judges a CUDA version newer than the table by its major family alone', () => {
    assert.deepEqual(driverVerdict('590.10', '13.9'), { kind: 'unknownCuda', cuda: '13.9', compatMinimum: '580', ok: true });
    assert.equal((driverVerdict('570.26', '13.9') as { ok: boolean }).ok, false);
    assert.equal(driverVerdict('550.54.14', '12.4.1').kind, 'ok');
  });

  it('compares driver versions numerically, not as text', () => {
    assert.ok(compareDriverVersions('535.104.05', '535.54.03') > 0);
    assert.ok(compareDriverVersions('570.26', '570.124.06') < 0);
    assert.equal(compareDriverVersions('580', '580.0.0'), 0);
  });

  it('picks the newest CUDA a driver fully supports', () => {
    assert.equal(newestSupportedCuda('535.104.05', ['12.4', '12.1', '11.8']), '12.1');
    assert.equal(newestSupportedCuda('470.82.01', ['12.4', '12.1', '11.8']), '11.8'); // through minor-version compatibility
    assert.equal(newestSupportedCuda('470.82.01', ['12.4', '12.1']), undefined);
  });

  it('reads the CUDA an image needs from NVIDIA_REQUIRE_CUDA, then CUDA_VERSION', () => {
    const nvidiaCuda = [
      'PATH=/usr/bin',
      'CUDA_VERSION=12.4.1',
      'NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471',
    ];
    assert.deepEqual(cudaFromImageEnv(nvidiaCuda), { version: '12.4', source: 'NVIDIA_REQUIRE_CUDA' });
    assert.deepEqual(cudaFromImageEnv(['CUDA_VERSION=11.8.0']), { version: '11.8', source: 'CUDA_VERSION' });
    assert.equal(cudaFromImageEnv(['PATH=/usr/bin', 'PYTORCH_VERSION=2.5.1']), undefined);
  });

  it('falls back to the preset catalog, then to a cudaX.Y in the base tag', () => {
    const catalog = parseCatalog(fs.readFileSync(path.resolve(__dirname, '../../../../templates/catalog.yaml'), 'utf8'));
    const labels = { 'org.mlcontainers.preset': 'pytorch', 'org.mlcontainers.base': 'pytorch/pytorch:2.4.1-cuda12.1-cudnn9-runtime' };
    const facts = imageGpuFacts({ env: [], labels }, catalog);
    assert.deepEqual(facts.cuda, { version: '12.1', source: 'catalog' });
    assert.deepEqual(
      facts.alternatives.map((a) => a.cuda),
      ['13.0', '12.8', '12.4', '12.1', '11.8'],
    );
    const custom = imageGpuFacts({ env: [], labels: { ...labels, 'org.mlcontainers.base': 'lab/torch:nightly-cuda12.6' } }, catalog);
    assert.deepEqual(custom.cuda, { version: '12.6', source: 'base tag' });
    assert.equal(imageGpuFacts({ env: [], labels: {} }, catalog).cuda, undefined);
  });
});

describe('GPU preflight', () => {
  it('passes with the nvidia runtime, a GPU and a new enough driver', () => {
    const p = preflight({ cuda: { version: '12.4', source: 'catalog' } });
    assert.equal(p.access, 'nvidia-runtime');
    assert.equal(p.verdict.kind, 'works');
    assert.deepEqual(p.problems, []);
    assert.match(
      formatPreflight(p).join('\n'),
      /GPU 0: NVIDIA H100 80GB HBM3, 80 GiB[\s\S]*driver ok[\s\S]*Verdict: GPU containers will work/,
    );
  });

  it('a driver too old for the image names the catalog image it can run and the update', () => {
    const p = preflight({
      host: gpus('0, Tesla T4, GPU-1, 470.82.01, 15360 MiB'),
      image: 'dimuon:3f2a1bc',
      cuda: { version: '12.4', source: 'catalog' },
      alternatives: [
        { image: 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime', cuda: '12.4' },
        { image: 'pytorch/pytorch:2.1.2-cuda11.8-cudnn8-runtime', cuda: '11.8' },
      ],
    });
    assert.equal(p.verdict.kind, 'blocked');
    const problem = p.problems.find((x) => x.code === 'driverTooOld');
    assert.equal(
      problem?.message,
      'Driver 470.82.01 is too old for CUDA 12.4 in dimuon:3f2a1bc (needs ≥ 525.60.13): pick pytorch/pytorch:2.1.2-cuda11.8-cudnn8-runtime or update the driver.',
    );
  });

  it('minor-version compatibility is a warning, not a failure', () => {
    const p = preflight({
      host: gpus('0, NVIDIA A10, GPU-1, 535.104.05, 23028 MiB'),
      cuda: { version: '12.4', source: 'NVIDIA_REQUIRE_CUDA' },
    });
    assert.equal(p.verdict.kind, 'works');
    assert.deepEqual(
      p.problems.map((x) => [x.code, x.severity]),
      [['minorCompat', 'warning']],
    );
  });

  it('no runtime and no nvidia-smi here: one error that says to install the driver, then the toolkit', () => {
    const p = gpuPreflight({ info, version, host: { kind: 'notInstalled' }, toolkit: noToolkit() });
    assert.equal(p.access, 'unverified');
    assert.equal(p.verdict.kind, 'blocked');
    assert.deepEqual(
      p.problems.map((x) => x.code),
      ['noDriver'],
    );
    assert.match(p.problems[0]?.message ?? '', /install the NVIDIA driver, then install nvidia-container-toolkit/);
  });

  it("GPUs but no runtime listed: the toolkit's hook here decides; without it the fix names the toolkit (and CDI where enabled)", () => {
    assert.equal(
      gpuPreflight({ info, version, host: gpus(H100), toolkit: { ...noToolkit(), hook: '/usr/bin/nvidia-container-runtime-hook' } }).verdict
        .kind,
      'works',
    );
    const p = gpuPreflight({ info, version, host: gpus(H100), toolkit: noToolkit() });
    assert.match(p.problems[0]?.message ?? '', /nvidia-ctk runtime configure --runtime=docker/);
    const cdi = gpuPreflight({
      info: { ...info, cdiSpecDirs: ['/etc/cdi', '/var/run/cdi'] },
      version,
      host: gpus(H100),
      toolkit: noToolkit(),
    });
    assert.match(cdi.problems[0]?.message ?? '', /nvidia-ctk cdi generate/);
  });

  it('uses CDI when the engine discovered NVIDIA CDI devices (Engine >= 28.3), and always on Podman', () => {
    const p = gpuPreflight({
      info: {
        ...info,
        discoveredDevices: [
          { source: 'cdi', id: 'nvidia.com/gpu=0' },
          { source: 'cdi', id: 'nvidia.com/gpu=all' },
        ],
      },
      version,
      host: gpus(H100),
    });
    assert.equal(p.access, 'cdi');
    assert.deepEqual(p.cdiDevices, ['nvidia.com/gpu=0', 'nvidia.com/gpu=all']);
    assert.equal(gpuPreflight({ info, version: { ...version, isPodman: true }, host: gpus(H100) }).access, 'cdi');
  });

  it('no devices, a driver that is not loaded, and unknown device ids are errors with what to do', () => {
    assert.match(gpuPreflight({ info: withRuntime, version, host: { kind: 'noDevices' } }).problems[0]?.message ?? '', /lspci/);
    assert.match(
      gpuPreflight({ info: withRuntime, version, host: interpretNvidiaSmi({ code: 9, stdout: NOT_LOADED, stderr: '' }) }).problems[0]
        ?.message ?? '',
      /reboot/,
    );
    const p = preflight({ host: gpus(EIGHT_A100), devices: ['3', '9', 'GPU-00000001-aaaa-bbbb-cccc-dddddddddddd'] });
    assert.equal(p.verdict.kind, 'blocked');
    assert.match(p.problems[0]?.message ?? '', /^GPU 9 is not on this machine \(it has 0, 1, 2, 3, 4, 5, 6, 7\)/);
  });

  it("a remote engine is not judged by this machine's GPUs or files", () => {
    const p = gpuPreflight({ info: withRuntime, version, host: { kind: 'remote', host: 'ssh://gpu-node' }, toolkit: noToolkit() });
    assert.equal(p.verdict.kind, 'unknown');
    assert.equal(p.toolkit, undefined);
    assert.match(p.problems[0]?.message ?? '', /runs on ssh:\/\/gpu-node/);
  });
});

describe("GPU verdict: will work, will not work, or can't tell", () => {
  const here = noToolkit();
  const podman: EngineVersion = { ...version, isPodman: true };
  const specs = { ...here, cdiDevices: ['nvidia.com/gpu=0', 'nvidia.com/gpu=all'] };
  const cuda124 = { version: '12.4', source: 'CUDA_VERSION' as const };
  const T4_470 = gpus('0, Tesla T4, GPU-1, 470.82.01, 15360 MiB');
  const cases: { name: string; input: PreflightInput; kind: 'works' | 'blocked' | 'unknown'; sentence: RegExp }[] = [
    {
      name: "Docker with the nvidia runtime, a GPU and a driver that meets the image's CUDA",
      input: { info: withRuntime, version, host: gpus(H100), toolkit: here, image: 'dimuon:3f2a1bc', cuda: cuda124 },
      kind: 'works',
      sentence:
        /^GPU containers will work: the nvidia runtime hands out 1 GPU, driver 550\.90\.07, which meets CUDA 12\.4 of dimuon:3f2a1bc\.$/,
    },
    {
      name: "Docker without nvidia runtime, CDI devices or the toolkit's hook",
      input: { info, version, host: gpus(H100), toolkit: here },
      kind: 'blocked',
      sentence:
        /^GPU containers will not work: no NVIDIA runtime on the engine \(.*\): install nvidia-container-toolkit, run `sudo nvidia-ctk runtime configure --runtime=docker` and restart the engine/,
    },
    {
      name: 'Docker without any NVIDIA runtime and without a driver',
      input: { info, version, host: { kind: 'notInstalled' }, toolkit: here },
      kind: 'blocked',
      sentence:
        /^GPU containers will not work: no NVIDIA driver on this machine \(nvidia-smi is not on PATH\) and no NVIDIA runtime on the engine .*: install the NVIDIA driver, then install nvidia-container-toolkit/,
    },
    {
      name: "Docker with no runtime listed but the toolkit's hook installed (DeviceRequests work through it)",
      input: { info, version, host: gpus(H100), toolkit: { ...here, hook: '/usr/bin/nvidia-container-runtime-hook' } },
      kind: 'works',
      sentence: /^GPU containers will work: nvidia-container-runtime-hook hands out 1 GPU, driver 550\.90\.07; no image was given/,
    },
    {
      name: 'Docker 28.3 with discovered CDI devices',
      input: {
        info: { ...info, discoveredDevices: [{ source: 'cdi', id: 'nvidia.com/gpu=all' }] },
        version,
        host: gpus(EIGHT_A100),
        toolkit: here,
      },
      kind: 'works',
      sentence: /^GPU containers will work: CDI \(nvidia\.com\/gpu=all\) hands out 8 GPUs, driver 535\.104\.05/,
    },
    {
      name: 'Podman without CDI specs, driver present',
      input: { info, version: podman, host: gpus(H100), toolkit: here },
      kind: 'blocked',
      sentence:
        /^GPU containers will not work: no NVIDIA CDI spec in \/etc\/cdi, \/var\/run\/cdi \(Podman hands out GPUs by CDI name only\): generate CDI specs with `sudo nvidia-ctk cdi generate/,
    },
    {
      name: 'Podman without CDI specs and without a driver',
      input: { info, version: podman, host: { kind: 'notInstalled' }, toolkit: here },
      kind: 'blocked',
      sentence:
        /^GPU containers will not work: no NVIDIA driver on this machine .* and no NVIDIA CDI spec in .*: install the NVIDIA driver, then generate CDI specs/,
    },
    {
      name: 'Podman with an NVIDIA CDI spec',
      input: { info, version: podman, host: gpus(H100), toolkit: specs, image: 'dimuon:3f2a1bc' },
      kind: 'works',
      sentence:
        /^GPU containers will work: CDI \(nvidia\.com\/gpu=0, nvidia\.com\/gpu=all\) hands out 1 GPU, driver 550\.90\.07; dimuon:3f2a1bc names no CUDA version, so none is asked of the driver\.$/,
    },
    {
      name: "a driver too old for the image's CUDA",
      input: { info: withRuntime, version, host: T4_470, toolkit: here, image: 'dimuon:3f2a1bc', cuda: cuda124 },
      kind: 'blocked',
      sentence:
        /^GPU containers will not work: driver 470\.82\.01 is too old for CUDA 12\.4 in dimuon:3f2a1bc \(needs ≥ 525\.60\.13\): update the driver\.$/,
    },
    {
      name: "a driver that runs the image's CUDA through minor-version compatibility",
      input: { info: withRuntime, version, host: gpus('0, NVIDIA A10, GPU-1, 535.104.05, 23028 MiB'), toolkit: here, cuda: cuda124 },
      kind: 'works',
      sentence: /which runs CUDA 12\.4 of the image through minor-version compatibility\.$/,
    },
    {
      name: 'nvidia-smi missing here, but the engine has the nvidia runtime',
      input: { info: withRuntime, version, host: { kind: 'notInstalled' }, toolkit: here, cuda: cuda124 },
      kind: 'unknown',
      sentence:
        /^Can't tell whether GPU containers will work: nvidia-smi is not on PATH here, so the GPUs and the driver could not be checked/,
    },
    {
      name: 'nvidia-smi failed',
      input: { info: withRuntime, version, host: { kind: 'failed', detail: 'Segmentation fault' }, toolkit: here },
      kind: 'unknown',
      sentence: /^Can't tell whether GPU containers will work: nvidia-smi failed \(Segmentation fault\)/,
    },
    {
      name: 'a remote engine with the nvidia runtime',
      input: { info: withRuntime, version, host: { kind: 'remote', host: 'ssh://gpu-node' } },
      kind: 'unknown',
      sentence:
        /^Can't tell whether GPU containers will work: the engine runs on ssh:\/\/gpu-node: its GPUs and driver cannot be checked from here/,
    },
    {
      name: 'a remote engine that lists no NVIDIA runtime (the hook there cannot be looked for)',
      input: { info, version, host: { kind: 'remote', host: 'ssh://gpu-node' } },
      kind: 'unknown',
      sentence: /cannot be checked from here;[\s\S]*whether nvidia-container-runtime-hook is on ssh:\/\/gpu-node cannot be checked/,
    },
    {
      name: 'a remote Podman (its CDI specs cannot be read)',
      input: { info, version: podman, host: { kind: 'remote', host: 'ssh://gpu-node' } },
      kind: 'unknown',
      sentence: /the CDI specs on ssh:\/\/gpu-node cannot be checked from here/,
    },
    {
      name: "Docker Desktop, whose engine runs in a VM this machine's files say nothing about",
      input: { info: { ...info, operatingSystem: 'Docker Desktop' }, version, host: gpus(H100), toolkit: here },
      kind: 'unknown',
      sentence: /hook is on Docker Desktop's VM cannot be checked from here/,
    },
    {
      name: 'no GPU on the host',
      input: { info: withRuntime, version, host: { kind: 'noDevices' }, toolkit: here },
      kind: 'blocked',
      sentence: /^GPU containers will not work: nvidia-smi finds no GPU: check the card is visible/,
    },
    {
      name: 'a driver that is not loaded',
      input: { info: withRuntime, version, host: interpretNvidiaSmi({ code: 9, stdout: NOT_LOADED, stderr: '' }), toolkit: here },
      kind: 'blocked',
      sentence: /^GPU containers will not work: the NVIDIA driver is installed but not loaded/,
    },
    {
      name: 'a device id the host does not have',
      input: { info: withRuntime, version, host: gpus(H100), toolkit: here, devices: ['1'] },
      kind: 'blocked',
      sentence: /^GPU containers will not work: GPU 1 is not on this machine \(it has 0\)/,
    },
    {
      name: 'no GPU on the host and no runtime: the host comes first, the count of the rest follows',
      input: { info, version, host: { kind: 'noDevices' }, toolkit: here },
      kind: 'blocked',
      sentence: /^GPU containers will not work: nvidia-smi finds no GPU: .* \(and 1 more problem above\)$/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.kind}`, () => {
      const p = gpuPreflight(c.input);
      assert.equal(p.verdict.kind, c.kind, p.verdict.sentence);
      assert.match(p.verdict.sentence, c.sentence);
      assert.equal(formatPreflight(p).at(-1), `Verdict: ${p.verdict.sentence}`);
    });
  }

  it('is a pure function of the preflight: the same facts give the same verdict', () => {
    const p = gpuPreflight(cases[0]!.input);
    const { verdict, ...facts } = p;
    assert.deepEqual(gpuVerdict(facts), verdict);
  });
});

describe('NVIDIA Container Toolkit files', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-toolkit-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads nvidia.com/gpu devices from YAML and JSON CDI specs, and nothing from other kinds or broken files', async () => {
    const cdi = path.join(dir, 'cdi');
    fs.mkdirSync(cdi);
    fs.writeFileSync(
      path.join(cdi, 'nvidia.yaml'),
      'cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: "0"\n  containerEdits: {}\n- name: all\n  containerEdits: {}\n',
    );
    fs.writeFileSync(
      path.join(cdi, 'mig.json'),
      JSON.stringify({ cdiVersion: '0.6.0', kind: 'nvidia.com/gpu', devices: [{ name: 'GPU-abc' }] }),
    );
    fs.writeFileSync(path.join(cdi, 'other.yaml'), 'kind: vendor.com/fpga\ndevices:\n- name: x\n');
    fs.writeFileSync(path.join(cdi, 'broken.yaml'), 'kind: [nvidia.com/gpu\n');
    const probe = await probeToolkit([cdi, path.join(dir, 'missing')], '');
    assert.deepEqual(probe.cdiDevices, ['nvidia.com/gpu=0', 'nvidia.com/gpu=GPU-abc', 'nvidia.com/gpu=all']);
    assert.deepEqual(nvidiaGpuDevices('not: [yaml'), []);
  });

  it('finds nvidia-container-runtime-hook on PATH only when it is executable', async () => {
    const hook = path.join(dir, 'nvidia-container-runtime-hook');
    fs.writeFileSync(hook, '#!/bin/sh\n', { mode: 0o644 });
    const withoutX = await probeToolkit([], dir);
    assert.notEqual(withoutX.hook, hook);
    fs.chmodSync(hook, 0o755);
    assert.equal((await probeToolkit([], dir)).hook, hook);
  });
});

describe('engine refusals mapped to one sentence', () => {
  const none = gpuPreflight({ info, version, host: { kind: 'notInstalled' } });

  it('Docker\'s "could not select device driver" becomes the toolkit instruction, never the raw text', () => {
    const raw = '(HTTP code 500) server error - could not select device driver "" with capabilities: [[gpu]]';
    const sentence = explainGpuRefusal(raw, none) ?? '';
    assert.match(
      sentence,
      /^This engine cannot give containers a GPU \(no NVIDIA runtime\) and no NVIDIA driver found on this machine: install the NVIDIA driver, then install nvidia-container-toolkit/,
    );
    assert.doesNotMatch(sentence, /could not select/);
  });

  it("nvidia-container-cli's CUDA requirement error names the driver and the CUDA", () => {
    const raw =
      "failed to create task for container: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\nnvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4, please update your driver to a newer version, or use an earlier cuda container: unknown";
    const p = preflight({ host: gpus('0, Tesla T4, GPU-1, 470.82.01, 15360 MiB') });
    assert.equal(
      explainGpuRefusal(raw, p),
      'Driver 470.82.01 is too old for CUDA 12.4 in this image: update the driver, or pick an image built for an older CUDA.',
    );
  });

  it('unknown CDI devices point at nvidia-ctk cdi generate; other errors are not GPU errors', () => {
    const cdi = explainGpuRefusal('could not start: CDI device injection failed: unresolvable CDI devices nvidia.com/gpu=all', none);
    assert.equal(
      cdi,
      'The engine has no CDI spec for nvidia.com/gpu=all: generate CDI specs with `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`, then restart the engine.',
    );
    assert.equal(explainGpuRefusal('No such image: foo:latest', none), undefined);
  });
});

describe("GPU architecture × the architectures of the image's PyTorch", () => {
  const smi = (name: string, cap: string, driver = '580.65.06'): HostGpuProbe =>
    interpretNvidiaSmi({ code: 0, stdout: `0, ${name}, GPU-1, ${driver}, 32607 MiB, ${cap}\n`, stderr: '' }, true);
  const catalog = parseCatalog(fs.readFileSync(path.resolve(__dirname, '../../../../templates/catalog.yaml'), 'utf8'));
  const alternatives = catalog.presets
    .find((p) => p.id === 'pytorch')!
    .versions.flatMap((v) => (v.gpu?.cuda ? [{ image: v.gpu.image, cuda: v.gpu.cuda }] : []));
  const known = (cuda: string): ImageArchs => ({ list: pytorchArchsForCuda(cuda) ?? [], source: `PyTorch's CUDA ${cuda} builds` });

  // compute capability, the build's archs, covered?
  const table: [string, ImageArchs, boolean][] = [
    ['12.0', known('12.4'), false], // Blackwell RTX 50xx vs a cu124 build: sm_90 at most
    ['12.0', known('12.8'), true],
    ['10.0', known('12.6'), false], // B200
    ['10.0', known('13.0'), true],
    ['9.0', known('13.0'), true], // H100
    ['9.0', known('12.4'), true],
    ['8.9', known('12.4'), true], // Ada runs sm_86 kernels (same major, lower minor)
    ['7.0', known('13.0'), false], // V100: CUDA 13 builds start at sm_75
    ['6.1', known('11.8'), true], // Pascal on sm_60
    ['12.0', { list: ['sm_80', 'compute_90'], source: 'its environment lock' }, true], // PTX: the driver compiles it
    ['8.0', { list: ['sm_90a'], source: 'its environment lock' }, false], // arch-specific kernels run only there
    ['9.0', { list: [], source: 'its environment lock' }, false], // CPU-only build
  ];
  for (const [cap, archs, covered] of table) {
    it(`compute capability ${cap} vs ${archs.list.join(' ') || 'no CUDA archs'}: ${covered ? 'covered' : 'not covered'}`, () => {
      assert.equal(archsCover(archs.list, cap), covered);
      const p = preflight({
        host: smi('GPU', cap),
        image: 'dimuon:3f2a1bc',
        cuda: { version: '12.4', source: 'catalog' },
        archs,
        alternatives,
      });
      assert.equal(
        p.problems.some((x) => x.code === 'archUncovered'),
        !covered,
      );
    });
  }

  it('says in the verdict that an RTX 5090 has no kernels in a cu124 build, and names the catalog image that covers it', () => {
    const p = preflight({
      host: smi('NVIDIA GeForce RTX 5090', '12.0'),
      image: 'dimuon:3f2a1bc',
      cuda: { version: '12.4', source: 'catalog' },
      archs: known('12.4'),
      alternatives,
    });
    assert.equal(p.verdict.kind, 'blocked');
    assert.equal(
      p.verdict.sentence,
      "GPU containers will not work: PyTorch in dimuon:3f2a1bc has no kernels for GPU 0 (NVIDIA GeForce RTX 5090, sm_120): it was built for sm_50 sm_60 sm_70 sm_75 sm_80 sm_86 sm_90 (PyTorch's CUDA 12.4 builds); pick pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime, which covers sm_120.",
    );
  });

  it('with a 570 driver names the CUDA 12.8 entry, which that driver runs, rather than the CUDA 13.0 default', () => {
    const p = preflight({
      host: smi('NVIDIA GeForce RTX 5090', '12.0', '570.124.06'),
      image: 'dimuon:3f2a1bc',
      cuda: { version: '12.4', source: 'catalog' },
      archs: known('12.4'),
      alternatives,
    });
    assert.match(p.verdict.sentence, /; pick pytorch\/pytorch:2\.11\.0-cuda12\.8-cudnn9-runtime, which covers sm_120\.$/);
  });

  it('says a CPU-only PyTorch cannot use the GPU, from the lock, in one sentence', () => {
    const p = preflight({
      host: smi('NVIDIA H100 80GB HBM3', '9.0'),
      image: 'dimuon:3f2a1bc',
      archs: { list: [], source: 'its environment lock' },
      alternatives,
    });
    assert.equal(
      p.verdict.sentence,
      'GPU containers will not work: PyTorch in dimuon:3f2a1bc was built without CUDA (no CUDA archs in its environment lock), so it cannot use GPU 0 (NVIDIA H100 80GB HBM3, sm_90): pick pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime, which covers sm_90.',
    );
  });

  it('a covered GPU: the verdict says so; a driver without compute_cap: no architecture check at all', () => {
    const works = preflight({
      host: smi('NVIDIA H100 80GB HBM3', '9.0'),
      image: 'dimuon:3f2a1bc',
      cuda: { version: '13.0', source: 'catalog' },
      archs: known('13.0'),
    });
    assert.equal(works.verdict.kind, 'works');
    assert.match(works.verdict.sentence, /; its PyTorch has kernels for sm_90\.$/);
    const old = preflight({
      host: gpus('0, Tesla T4, GPU-1, 580.65.06, 15360 MiB\n'),
      image: 'dimuon:3f2a1bc',
      archs: { list: [], source: 'its environment lock' },
    });
    assert.ok(!old.problems.some((x) => x.code === 'archUncovered'));
  });
});

describe('the architectures from the environment lock', () => {
  it('reads the recorded list, none for a CPU-only build, nothing from a lock that predates the record', () => {
    assert.deepEqual(lockArchs('# image sha256:1\ntorch==2.14.1\n# torch cuda archs: sm_75 sm_80 sm_86 sm_90 sm_100 sm_120\n'), [
      'sm_75',
      'sm_80',
      'sm_86',
      'sm_90',
      'sm_100',
      'sm_120',
    ]);
    assert.deepEqual(lockArchs('torch==1.13.1\n# torch cuda archs: none\n'), []);
    assert.equal(lockArchs('numpy==2.1.0\n'), undefined);
  });

  it("checkGpu judges the GPUs by the project's lock of the image before the CUDA version's known set", async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-lockarchs-'));
    try {
      const engine = new FakeEngine();
      engine.info_ = { ...engine.info_, runtimes: ['runc', 'nvidia'] };
      const image = {
        ref: 'dimuon:3f2a1bc',
        details: { id: 'sha256:abc', env: ['CUDA_VERSION=12.4.1'], labels: { 'org.mlcontainers.preset': 'pytorch' } },
      };
      const probe = (): Promise<HostGpuProbe> =>
        Promise.resolve(
          interpretNvidiaSmi({ code: 0, stdout: '0, NVIDIA H100 80GB HBM3, GPU-1, 580.65.06, 81559 MiB, 9.0\n', stderr: '' }, true),
        );
      const known = await checkGpu({ engine, image, folder, probe });
      assert.deepEqual(known.archs, { list: pytorchArchsForCuda('12.4'), source: "PyTorch's CUDA 12.4 builds" });
      assert.equal(known.verdict.kind, 'works');
      await writeLock(folder, 'sha256:abc', ['dimuon:3f2a1bc'], 'torch==1.13.1\n# torch cuda archs: none\n');
      const locked = await checkGpu({ engine, image, folder, probe });
      assert.deepEqual(locked.archs, { list: [], source: 'its environment lock' });
      assert.equal(locked.verdict.kind, 'blocked');
      assert.match(locked.verdict.sentence, /was built without CUDA \(no CUDA archs in its environment lock\)/);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  it("without a lock, checkGpu judges by the table the preset's catalog entry names, not by the preset's name", async () => {
    const engine = new FakeEngine();
    engine.info_ = { ...engine.info_, runtimes: ['runc', 'nvidia'] };
    const probe = (): Promise<HostGpuProbe> =>
      Promise.resolve(
        interpretNvidiaSmi({ code: 0, stdout: '0, NVIDIA GeForce RTX 5090, GPU-1, 580.65.06, 32607 MiB, 12.0\n', stderr: '' }, true),
      );
    const catalog = presetCatalog({ torchlike: ['gpuArchs: pytorch'], pytorch: [] });
    const image = (id: string) => ({
      ref: 'dimuon:3f2a1bc',
      details: { id: 'sha256:abc', env: ['CUDA_VERSION=12.4.1'], labels: { 'org.mlcontainers.preset': id } },
    });
    const judged = await checkGpu({ engine, image: image('torchlike'), catalog, probe });
    assert.deepEqual(judged.archs, { list: pytorchArchsForCuda('12.4'), source: "PyTorch's CUDA 12.4 builds" });
    assert.ok(
      judged.problems.some((p) => p.code === 'archUncovered'),
      'sm_120 is not in a cu124 build',
    );
    const unjudged = await checkGpu({ engine, image: image('pytorch'), catalog, probe });
    assert.equal(unjudged.archs, undefined);
    assert.equal(unjudged.verdict.kind, 'works');
  });
});
