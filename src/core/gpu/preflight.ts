import type { DockerEndpoint } from '../docker/endpoint';
import type { Engine, EngineInfo, EngineVersion, ImageDetails } from '../docker/engine';
import type { Catalog } from '../scaffold/catalog';
import type { CudaRequirement, DriverVerdict } from './cuda';
import { driverVerdict, newestSupportedCuda } from './cuda';
import { imageGpuFacts } from './imageCuda';
import type { HostGpuProbe } from './nvidiaSmi';
import { probeHostGpus } from './nvidiaSmi';

/** How this engine hands GPUs to containers. */
export type GpuAccess =
  /** `nvidia` is among /info Runtimes (nvidia-ctk runtime configure): DeviceRequests work. */
  | 'nvidia-runtime'
  /** CDI devices (Engine >= 28.3 DiscoveredDevices, or Podman, which only takes CDI names). */
  | 'cdi'
  /** Neither is listed; DeviceRequests still work when the toolkit's hook is installed, and the engine's answer decides. */
  | 'unverified';

export type GpuProblemCode =
  | 'noRuntime'
  | 'cdiEmpty'
  | 'noDriver'
  | 'noDevices'
  | 'driverNotLoaded'
  | 'smiFailed'
  | 'driverTooOld'
  | 'minorCompat'
  | 'deviceMissing'
  | 'remote';

export interface GpuProblem {
  code: GpuProblemCode;
  severity: 'error' | 'warning';
  /** One sentence: what is wrong and what to do. */
  message: string;
  /** A few words for "GPU: off (…)". */
  short: string;
}

export interface GpuPreflight {
  access: GpuAccess;
  cdiDevices: string[];
  isPodman: boolean;
  host: HostGpuProbe;
  cuda: CudaRequirement | undefined;
  verdict: DriverVerdict | undefined;
  problems: GpuProblem[];
  /** No error-severity problem. */
  ok: boolean;
}

export interface PreflightInput {
  info: EngineInfo;
  version: EngineVersion;
  host: HostGpuProbe;
  /** The image to run and the CUDA it needs (from its Env, else the preset catalog). */
  image?: string;
  cuda?: CudaRequirement;
  /** GPU images of the same preset (from the catalog), to suggest one the driver supports. */
  alternatives?: { image: string; cuda: string }[];
  /** Device ids or UUIDs the user asked for. */
  devices?: string[];
}

const TOOLKIT = 'install nvidia-container-toolkit, run `sudo nvidia-ctk runtime configure --runtime=docker` and restart the engine (`sudo systemctl restart docker`)';
const CDI_GENERATE = 'generate CDI specs with `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`';

export function gpuPreflight(input: PreflightInput): GpuPreflight {
  const { info, version, host } = input;
  const cdiDevices = info.discoveredDevices.filter((d) => d.source === 'cdi' && d.id.startsWith('nvidia.com/gpu')).map((d) => d.id);
  const access: GpuAccess = version.isPodman || cdiDevices.length ? 'cdi' : info.runtimes.includes('nvidia') ? 'nvidia-runtime' : 'unverified';
  const problems: GpuProblem[] = [];
  const add = (code: GpuProblemCode, severity: GpuProblem['severity'], short: string, message: string): void => {
    problems.push({ code, severity, short, message });
  };

  switch (host.kind) {
    case 'notInstalled':
      add('noDriver', access === 'unverified' ? 'error' : 'warning', 'no NVIDIA driver found',
        'No NVIDIA driver on this machine (nvidia-smi is not on PATH): install the NVIDIA driver, or run on CPU (mlContainers.gpu: none).');
      break;
    case 'noDevices':
      add('noDevices', 'error', 'nvidia-smi finds no GPU',
        'nvidia-smi finds no GPU: check the card is visible (`lspci | grep -i nvidia`) and not taken by a VM, or run on CPU (mlContainers.gpu: none).');
      break;
    case 'driverNotLoaded':
      add('driverNotLoaded', 'error', 'the NVIDIA driver is not loaded',
        `The NVIDIA driver is installed but not loaded (${host.detail}): reboot after a driver update, or check \`dmesg | grep -i nvidia\` (Secure Boot can block the module).`);
      break;
    case 'failed':
      add('smiFailed', 'warning', 'nvidia-smi failed', `nvidia-smi failed (${host.detail}), so the driver could not be checked: the engine's answer at start decides.`);
      break;
    case 'remote':
      add('remote', 'warning', 'remote engine',
        `The engine runs on ${host.host}: its GPUs and driver cannot be checked from here; run \`nvidia-smi\` there if GPU containers fail.`);
      break;
    case 'gpus':
      break;
  }

  if (access === 'unverified' && (host.kind === 'gpus' || host.kind === 'remote')) {
    add(info.cdiSpecDirs.length ? 'cdiEmpty' : 'noRuntime', 'warning', 'no NVIDIA runtime on the engine',
      `The engine lists no nvidia runtime${info.cdiSpecDirs.length ? ' and no CDI GPU devices' : ''}; if GPU containers fail, ${TOOLKIT}${info.cdiSpecDirs.length ? `, or ${CDI_GENERATE}` : ''}.`);
  }
  if (version.isPodman && !cdiDevices.length && host.kind === 'gpus') {
    add('cdiEmpty', 'warning', 'no CDI specs checked',
      `Podman takes GPUs by CDI name only (nvidia.com/gpu=all): if the container gets no GPU, ${CDI_GENERATE}.`);
  }

  let verdict: DriverVerdict | undefined;
  if (host.kind === 'gpus' && input.cuda) {
    verdict = driverVerdict(host.driverVersion, input.cuda.version);
    const image = input.image ? ` in ${input.image}` : '';
    const alternative = suggestion(host.driverVersion, input.alternatives ?? []);
    if (verdict.kind === 'tooOld' || (verdict.kind === 'unknownCuda' && !verdict.ok)) {
      const needs = verdict.kind === 'tooOld' ? verdict.required : verdict.compatMinimum ?? 'a newer driver';
      add('driverTooOld', 'error', `driver ${host.driverVersion} is too old for CUDA ${verdict.cuda}`,
        `Driver ${host.driverVersion} is too old for CUDA ${verdict.cuda}${image} (needs ≥ ${needs}): ${alternative ? `pick ${alternative} or ` : ''}update the driver.`);
    } else if (verdict.kind === 'minorCompat') {
      add('minorCompat', 'warning', `driver ${host.driverVersion} is older than CUDA ${verdict.cuda}'s`,
        `Driver ${host.driverVersion} predates CUDA ${verdict.cuda}'s own (${verdict.required}); it runs through CUDA minor-version compatibility, but code that needs PTX JIT may fail: update the driver${alternative ? ` or pick ${alternative}` : ''}.`);
    }
  }

  if (host.kind === 'gpus' && input.devices?.length) {
    const known = new Set(host.gpus.flatMap((g) => [g.index, g.uuid]));
    const missing = input.devices.filter((d) => !known.has(d));
    if (missing.length) {
      add('deviceMissing', 'error', `GPU ${missing.join(', ')} not found`,
        `GPU ${missing.join(', ')} is not on this machine (it has ${host.gpus.map((g) => g.index).join(', ')}): set mlContainers.gpu to existing ids, "all" or "auto".`);
    }
  }

  return {
    access,
    cdiDevices,
    isPodman: version.isPodman,
    host,
    cuda: input.cuda,
    verdict,
    problems,
    ok: !problems.some((p) => p.severity === 'error'),
  };
}

function suggestion(driver: string, alternatives: { image: string; cuda: string }[]): string | undefined {
  const cuda = newestSupportedCuda(driver, alternatives.map((a) => a.cuda));
  return cuda ? alternatives.find((a) => a.cuda === cuda)?.image : undefined;
}

/**
 * Maps the engine's refusal to start a GPU container to one sentence from the preflight; undefined when the error is
 * not about GPUs. The raw texts are Docker's and nvidia-container-cli's.
 */
export function explainGpuRefusal(raw: string, preflight: GpuPreflight): string | undefined {
  const host = preflight.problems.find((p) => ['noDriver', 'noDevices', 'driverNotLoaded'].includes(p.code));
  if (/could not select device driver .*capabilities: \[\[gpu\]\]/i.test(raw)) {
    return `This engine cannot give containers a GPU (no NVIDIA runtime)${host ? ` and ${host.short} on this machine` : ''}: ${host?.code === 'noDriver' ? 'install the NVIDIA driver, then ' : ''}${TOOLKIT}; or set mlContainers.gpu to "none" or "auto" to run on CPU.`;
  }
  if (/unresolvable CDI devices|CDI device injection failed|unknown CDI device/i.test(raw)) {
    const name = /(nvidia\.com\/gpu=[\w.-]+)/.exec(raw)?.[1] ?? 'the requested GPU';
    return `The engine has no CDI spec for ${name}: ${CDI_GENERATE}, then restart the engine.`;
  }
  const cuda = /unsatisfied condition: cuda>=?\s*(\d+\.\d+)/i.exec(raw);
  if (cuda) {
    const driver = preflight.host.kind === 'gpus' ? `Driver ${preflight.host.driverVersion}` : 'The host driver';
    return `${driver} is too old for CUDA ${cuda[1]} in this image: update the driver, or pick an image built for an older CUDA.`;
  }
  if (/nvml error: driver not loaded|load library failed: libnvidia-ml|driver\/library version mismatch/i.test(raw)) {
    return 'The NVIDIA driver is not usable on the engine host (nvidia-container-cli cannot load it): reboot after a driver update, or reinstall the driver.';
  }
  return undefined;
}

export function formatPreflight(p: GpuPreflight): string[] {
  const lines: string[] = [];
  const access = { 'nvidia-runtime': 'nvidia runtime (DeviceRequests)', cdi: `CDI${p.cdiDevices.length ? `: ${p.cdiDevices.join(', ')}` : ' names (Podman)'}`, unverified: 'no nvidia runtime or CDI devices listed' }[p.access];
  lines.push(`Engine GPU access: ${access}`);
  if (p.host.kind === 'gpus') {
    lines.push(`Driver: ${p.host.driverVersion}`);
    for (const g of p.host.gpus) {
      lines.push(`GPU ${g.index}: ${g.name}, ${g.memoryMiB !== undefined ? `${(g.memoryMiB / 1024).toFixed(0)} GiB` : 'memory n/a'}, ${g.uuid}`);
    }
  } else {
    lines.push(`Host GPUs: ${{ noDevices: 'none found', driverNotLoaded: 'driver not loaded', notInstalled: 'nvidia-smi not installed', remote: `not checked (remote engine ${p.host.kind === 'remote' ? p.host.host : ''})`, failed: 'nvidia-smi failed' }[p.host.kind]}`);
  }
  if (p.cuda) {
    lines.push(`Image needs CUDA ${p.cuda.version} (${p.cuda.source})${p.verdict ? `: ${verdictText(p.verdict)}` : ''}`);
  }
  for (const problem of p.problems) {
    lines.push(`${problem.severity === 'error' ? 'Problem' : 'Warning'}: ${problem.message}`);
  }
  lines.push(p.ok ? 'Verdict: GPU containers should work.' : 'Verdict: GPU containers will not work until the problem above is fixed.');
  return lines;
}

function verdictText(v: DriverVerdict): string {
  switch (v.kind) {
    case 'ok':
      return `driver ok (≥ ${v.required})`;
    case 'minorCompat':
      return `minor-version compatibility (≥ ${v.compatMinimum}; full features from ${v.required})`;
    case 'tooOld':
      return `driver too old (needs ≥ ${v.required})`;
    case 'unknownCuda':
      return v.ok ? `not in our table; the driver meets CUDA ${v.cuda.split('.')[0]}.x's minimum` : 'driver too old';
  }
}

export interface CheckGpuOptions {
  engine: Engine;
  /** The image to be run; its CUDA needs come from its Env or the catalog. */
  image?: { ref: string; details: Pick<ImageDetails, 'env' | 'labels'> };
  catalog?: Catalog;
  devices?: string[];
  /** nvidia-smi on this machine; tests pass a fake of our own probe. */
  probe?: () => Promise<HostGpuProbe>;
  signal?: AbortSignal;
}

/** The whole preflight: /info and /version, nvidia-smi where the engine is local, the image's CUDA. */
export async function checkGpu(o: CheckGpuOptions): Promise<GpuPreflight> {
  const local = isLocalEndpoint(o.engine.endpoint);
  const [info, version, host] = await Promise.all([
    o.engine.info(o.signal),
    o.engine.version(o.signal),
    local ? (o.probe ?? (() => probeHostGpus(undefined, o.signal)))() : Promise.resolve<HostGpuProbe>({ kind: 'remote', host: o.engine.endpoint.host }),
  ]);
  const facts = o.image ? imageGpuFacts(o.image.details, o.catalog) : undefined;
  return gpuPreflight({
    info,
    version,
    host,
    ...(o.image ? { image: o.image.ref } : {}),
    ...(facts?.cuda ? { cuda: facts.cuda } : {}),
    ...(facts ? { alternatives: facts.alternatives } : {}),
    ...(o.devices ? { devices: o.devices } : {}),
  });
}

/** Whether the engine runs on this machine (so nvidia-smi here describes its GPUs, and 127.0.0.1 reaches its ports). */
export function isLocalEndpoint(endpoint: DockerEndpoint): boolean {
  if (endpoint.protocol === 'unix' || endpoint.protocol === 'npipe') return true;
  return endpoint.protocol === 'tcp' && ['localhost', '127.0.0.1', '::1', '[::1]'].includes(endpoint.hostname ?? '');
}
