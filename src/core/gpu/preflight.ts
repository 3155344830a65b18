import * as fs from 'node:fs/promises';
import { isLocalEndpoint } from '../docker/endpoint';
import type { Engine, EngineInfo, EngineVersion, ImageDetails } from '../docker/engine';
import { lockArchs, lockPath } from '../provenance/lock';
import type { Catalog, GpuArchTable } from '../scaffold/catalog';
import { presetFacts } from '../scaffold/presetFacts';
import type { CudaRequirement, DriverVerdict } from './cuda';
import { driverVerdict, newestSupportedCuda } from './cuda';
import { archsCover, pytorchArchsForCuda, smName } from './cudaArchs';
import { imageGpuFacts } from './imageCuda';
import type { HostGpu, HostGpuProbe } from './nvidiaSmi';
import { probeHostGpus } from './nvidiaSmi';
import type { ToolkitProbe } from './toolkit';
import { DEFAULT_CDI_SPEC_DIRS, noToolkit, probeToolkit } from './toolkit';

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
  | 'archUncovered'
  | 'remote';

export interface GpuProblem {
  code: GpuProblemCode;
  /** error: GPU containers cannot work until it is fixed; unknown: a fact the verdict needs could not be checked; warning: they work, with a caveat. */
  severity: 'error' | 'unknown' | 'warning';
  /** One sentence: what is wrong and what to do. */
  message: string;
  /** A few words for "GPU: off (…)". */
  short: string;
}

/** The preflight's answer, one of three, in one sentence: what works, what is missing and the fix, or what could not be checked. */
export interface GpuVerdict {
  kind: 'works' | 'blocked' | 'unknown';
  sentence: string;
}

export interface GpuPreflight {
  access: GpuAccess;
  cdiDevices: string[];
  isPodman: boolean;
  host: HostGpuProbe;
  /** The toolkit's files on the engine's machine; undefined when they could not be looked at (remote engine, Docker Desktop's VM). */
  toolkit: ToolkitProbe | undefined;
  image: string | undefined;
  cuda: CudaRequirement | undefined;
  driver: DriverVerdict | undefined;
  /** The GPU architectures the image's framework was built for, when known (see PreflightInput.archs). */
  archs?: ImageArchs;
  problems: GpuProblem[];
  verdict: GpuVerdict;
}

/** The GPU architectures an image's framework has kernels for: ["sm_80", "sm_90"]; empty for a CPU-only build. */
export interface ImageArchs {
  list: string[];
  /** Where the list came from, for messages: "its environment lock", "PyTorch's CUDA 12.4 builds". */
  source: string;
}

export interface PreflightInput {
  info: EngineInfo;
  version: EngineVersion;
  host: HostGpuProbe;
  /** The toolkit's hook and CDI specs, when the engine runs on this machine; without it they count as not checked. */
  toolkit?: ToolkitProbe;
  /** The image to run and the CUDA it needs (from its Env, else the preset catalog). */
  image?: string;
  cuda?: CudaRequirement;
  /** GPU images of the same preset (from the catalog), to suggest one the driver supports. */
  alternatives?: { image: string; cuda: string }[];
  /** Device ids or UUIDs the user asked for. */
  devices?: string[];
  /** What the image's PyTorch was built for: from its environment lock, else its CUDA version's known set. */
  archs?: ImageArchs;
}

const TOOLKIT =
  'install nvidia-container-toolkit, run `sudo nvidia-ctk runtime configure --runtime=docker` and restart the engine (`sudo systemctl restart docker`)';
const CDI_GENERATE = 'generate CDI specs with `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml`';

/** Whether the engine can hand a container a GPU, from /info and, where the engine runs here, the toolkit's files. */
type EngineGpus =
  | { kind: 'yes' }
  | { kind: 'no'; code: GpuProblemCode; short: string; missing: string; fix: string }
  | { kind: 'unknown'; code: GpuProblemCode; short: string; why: string; fix: string };

function engineGpus(
  access: GpuAccess,
  isPodman: boolean,
  info: EngineInfo,
  host: HostGpuProbe,
  files: ToolkitProbe | undefined,
): EngineGpus {
  if (access === 'nvidia-runtime') return { kind: 'yes' };
  const where =
    host.kind === 'remote' ? host.host : /docker desktop/i.test(info.operatingSystem) ? "Docker Desktop's VM" : "the engine's machine";
  if (isPodman) {
    if (files?.cdiDevices.length) return { kind: 'yes' };
    const about = 'Podman hands out GPUs by CDI name only';
    return files
      ? {
          kind: 'no',
          code: 'cdiEmpty',
          short: 'no NVIDIA CDI spec',
          missing: `no NVIDIA CDI spec in ${files.specDirs.join(', ')} (${about})`,
          fix: CDI_GENERATE,
        }
      : {
          kind: 'unknown',
          code: 'cdiEmpty',
          short: 'CDI specs not checked',
          why: `${about}, and the CDI specs on ${where} cannot be checked from here`,
          fix: CDI_GENERATE,
        };
  }
  if (access === 'cdi') return { kind: 'yes' };
  const cdi = info.cdiSpecDirs.length ? `, or ${CDI_GENERATE}` : '';
  if (files?.hook) return { kind: 'yes' };
  return files
    ? {
        kind: 'no',
        code: 'noRuntime',
        short: 'no NVIDIA runtime on the engine',
        missing: 'no NVIDIA runtime on the engine (no nvidia runtime or CDI GPU devices in its /info, no nvidia-container-runtime-hook)',
        fix: `${TOOLKIT}${cdi}`,
      }
    : {
        kind: 'unknown',
        code: 'noRuntime',
        short: 'no NVIDIA runtime listed',
        why: `the engine lists no nvidia runtime or CDI GPU devices, and whether nvidia-container-runtime-hook is on ${where} cannot be checked from here`,
        fix: `${TOOLKIT}${cdi}`,
      };
}

export function gpuPreflight(input: PreflightInput): GpuPreflight {
  const { info, version, host } = input;
  // The toolkit's files here describe the engine only when it runs here, not in a VM of its own.
  const files = host.kind !== 'remote' && !/docker desktop/i.test(info.operatingSystem) ? input.toolkit : undefined;
  const discovered = info.discoveredDevices.filter((d) => d.source === 'cdi' && d.id.startsWith('nvidia.com/gpu')).map((d) => d.id);
  // Podman resolves CDI names from the spec files, so the ones found here are its devices.
  const cdiDevices = discovered.length ? discovered : version.isPodman ? (files?.cdiDevices ?? []) : [];
  const access: GpuAccess =
    version.isPodman || discovered.length ? 'cdi' : info.runtimes.includes('nvidia') ? 'nvidia-runtime' : 'unverified';
  const engine = engineGpus(access, version.isPodman, info, host, files);
  const problems: GpuProblem[] = [];
  const add = (code: GpuProblemCode, severity: GpuProblem['severity'], short: string, message: string): void => {
    problems.push({ code, severity, short, message });
  };

  let engineReported = false;
  switch (host.kind) {
    case 'notInstalled':
      if (engine.kind === 'no') {
        engineReported = true;
        add(
          'noDriver',
          'error',
          'no NVIDIA driver found',
          `No NVIDIA driver on this machine (nvidia-smi is not on PATH) and ${engine.missing}: install the NVIDIA driver, then ${engine.fix}; or run on CPU (mlContainers.gpu: none).`,
        );
      } else {
        add(
          'noDriver',
          'unknown',
          'no NVIDIA driver found',
          'nvidia-smi is not on PATH here, so the GPUs and the driver could not be checked: install the NVIDIA driver if there is none (on WSL, nvidia-smi is in /usr/lib/wsl/lib).',
        );
      }
      break;
    case 'noDevices':
      add(
        'noDevices',
        'error',
        'nvidia-smi finds no GPU',
        'nvidia-smi finds no GPU: check the card is visible (`lspci | grep -i nvidia`) and not taken by a VM, or run on CPU (mlContainers.gpu: none).',
      );
      break;
    case 'driverNotLoaded':
      add(
        'driverNotLoaded',
        'error',
        'the NVIDIA driver is not loaded',
        `The NVIDIA driver is installed but not loaded (${host.detail}): reboot after a driver update, or check \`dmesg | grep -i nvidia\` (Secure Boot can block the module).`,
      );
      break;
    case 'failed':
      add(
        'smiFailed',
        'unknown',
        'nvidia-smi failed',
        `nvidia-smi failed (${host.detail}), so the GPUs and the driver could not be checked.`,
      );
      break;
    case 'remote':
      add(
        'remote',
        'unknown',
        'remote engine',
        `The engine runs on ${host.host}: its GPUs and driver cannot be checked from here; run \`nvidia-smi\` there.`,
      );
      break;
    case 'gpus':
      break;
  }

  if (engine.kind === 'no' && !engineReported) {
    add(engine.code, 'error', engine.short, `${capitalize(engine.missing)}: ${engine.fix}.`);
  } else if (engine.kind === 'unknown') {
    add(engine.code, 'unknown', engine.short, `${capitalize(engine.why)}; if GPU containers fail, ${engine.fix}.`);
  }

  let driver: DriverVerdict | undefined;
  if (host.kind === 'gpus' && input.cuda) {
    driver = driverVerdict(host.driverVersion, input.cuda.version);
    const image = input.image ? ` in ${input.image}` : '';
    const alternative = suggestion(host.driverVersion, input.alternatives ?? []);
    if (driver.kind === 'tooOld' || (driver.kind === 'unknownCuda' && !driver.ok)) {
      const needs = driver.kind === 'tooOld' ? driver.required : (driver.compatMinimum ?? 'a newer driver');
      add(
        'driverTooOld',
        'error',
        `driver ${host.driverVersion} is too old for CUDA ${driver.cuda}`,
        `Driver ${host.driverVersion} is too old for CUDA ${driver.cuda}${image} (needs ≥ ${needs}): ${alternative ? `pick ${alternative} or ` : ''}update the driver.`,
      );
    } else if (driver.kind === 'minorCompat') {
      add(
        'minorCompat',
        'warning',
        `driver ${host.driverVersion} is older than CUDA ${driver.cuda}'s`,
        `Driver ${host.driverVersion} predates CUDA ${driver.cuda}'s own (${driver.required}); it runs through CUDA minor-version compatibility, but code that needs PTX JIT may fail: update the driver${alternative ? ` or pick ${alternative}` : ''}.`,
      );
    }
  }

  if (host.kind === 'gpus' && input.archs) {
    const problem = archProblem(host.gpus, input.archs, input.image, host.driverVersion, input.alternatives ?? []);
    if (problem) add('archUncovered', 'error', problem.short, problem.message);
  }

  if (host.kind === 'gpus' && input.devices?.length) {
    const known = new Set(host.gpus.flatMap((g) => [g.index, g.uuid]));
    const missing = input.devices.filter((d) => !known.has(d));
    if (missing.length) {
      add(
        'deviceMissing',
        'error',
        `GPU ${missing.join(', ')} not found`,
        `GPU ${missing.join(', ')} is not on this machine (it has ${host.gpus.map((g) => g.index).join(', ')}): set mlContainers.gpu to existing ids, "all" or "auto".`,
      );
    }
  }

  const preflight = {
    access,
    cdiDevices,
    isPodman: version.isPodman,
    host,
    toolkit: files,
    image: input.image,
    cuda: input.cuda,
    driver,
    ...(input.archs ? { archs: input.archs } : {}),
    problems,
  };
  return { ...preflight, verdict: gpuVerdict(preflight) };
}

/**
 * The one verdict both shells print and runs decide by: "will not work" when any problem blocks, "can't tell" when
 * the engine's GPU access, the host's GPUs or its driver could not be checked, "will work" only when all three were.
 */
export function gpuVerdict(p: Omit<GpuPreflight, 'verdict'>): GpuVerdict {
  const blocking = p.problems.find((x) => x.severity === 'error');
  if (blocking) {
    const more = p.problems.filter((x) => x.severity === 'error').length - 1;
    return {
      kind: 'blocked',
      sentence: `GPU containers will not work: ${uncapitalize(blocking.message)}${more ? ` (and ${more} more problem${more > 1 ? 's' : ''} above)` : ''}`,
    };
  }
  const unchecked = p.problems.filter((x) => x.severity === 'unknown');
  if (unchecked.length || p.host.kind !== 'gpus') {
    const what = unchecked.map((x) => x.message).join(' ') || "the host's GPUs were not checked.";
    return { kind: 'unknown', sentence: `Can't tell whether GPU containers will work: ${uncapitalize(what)}` };
  }
  const via = {
    'nvidia-runtime': 'the nvidia runtime',
    cdi: `CDI (${p.cdiDevices.join(', ')})`,
    unverified: 'nvidia-container-runtime-hook',
  }[p.access];
  const count = p.host.gpus.length;
  const image = p.image ?? 'the image';
  const cuda = !p.cuda
    ? p.image
      ? `; ${p.image} names no CUDA version, so none is asked of the driver`
      : '; no image was given to check the driver against its CUDA'
    : p.driver?.kind === 'minorCompat'
      ? `, which runs CUDA ${p.cuda.version} of ${image} through minor-version compatibility`
      : `, which meets CUDA ${p.cuda.version} of ${image}`;
  const caps = [...new Set(p.host.gpus.flatMap((g) => (g.computeCap ? [smName(g.computeCap)] : [])))];
  const kernels = p.archs?.list.length && caps.length ? `; its PyTorch has kernels for ${caps.join(', ')}` : '';
  return {
    kind: 'works',
    sentence: `GPU containers will work: ${via} hands out ${count} GPU${count === 1 ? '' : 's'}, driver ${p.host.driverVersion}${cuda}${kernels}.`,
  };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "Driver 470 …" → "driver 470 …" after a colon; "GPU 9 …" and "nvidia-smi …" stay as they are. */
function uncapitalize(text: string): string {
  return /^[A-Z][a-z]+\b/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

/**
 * The first GPU whose architecture the image's PyTorch has no kernels for, in one sentence with a catalog image that
 * covers every such GPU (one the driver runs, when there is one); undefined when all are covered or none says its
 * compute capability (drivers before 510).
 */
function archProblem(
  gpus: HostGpu[],
  archs: ImageArchs,
  image: string | undefined,
  driver: string,
  alternatives: { image: string; cuda: string }[],
): { short: string; message: string } | undefined {
  const uncovered = gpus.filter((g) => g.computeCap !== undefined && !archsCover(archs.list, g.computeCap));
  const first = uncovered[0];
  if (!first?.computeCap) return undefined;
  const caps = [...new Set(uncovered.map((g) => g.computeCap!))];
  const covering = alternatives.filter((a) => caps.every((c) => archsCover(pytorchArchsForCuda(a.cuda) ?? [], c)));
  const driverRuns = (cuda: string): boolean => {
    const v = driverVerdict(driver, cuda);
    return v.kind === 'unknownCuda' ? v.ok : v.kind !== 'tooOld';
  };
  const runs = covering.find((a) => driverRuns(a.cuda));
  const pick = runs ?? covering[0];
  const sm = caps.map(smName).join(', ');
  const fix = pick
    ? `pick ${pick.image}, which covers ${sm}${runs ? '' : ' (with a newer driver)'}`
    : `pick an image whose PyTorch is built for ${sm}`;
  const what = image ? `PyTorch in ${image}` : "The image's PyTorch";
  const gpu = `GPU ${first.index} (${first.name}, ${smName(first.computeCap)})${uncovered.length > 1 ? ` and ${uncovered.length - 1} more` : ''}`;
  return archs.list.length === 0
    ? {
        short: 'PyTorch without CUDA',
        message: `${what} was built without CUDA (no CUDA archs in ${archs.source}), so it cannot use ${gpu}: ${fix}.`,
      }
    : {
        short: `no kernels for ${smName(first.computeCap)}`,
        message: `${what} has no kernels for ${gpu}: it was built for ${archs.list.join(' ')} (${archs.source}); ${fix}.`,
      };
}

function suggestion(driver: string, alternatives: { image: string; cuda: string }[]): string | undefined {
  const cuda = newestSupportedCuda(
    driver,
    alternatives.map((a) => a.cuda),
  );
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
  // Podman: "container create: stat nvidia.com/gpu=all: no such file or directory" when no spec names the device.
  if (/unresolvable CDI devices|CDI device injection failed|unknown CDI device|stat nvidia\.com\/gpu=\S+: no such file/i.test(raw)) {
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
  const unlisted = p.toolkit?.hook
    ? `no nvidia runtime listed; ${p.toolkit.hook} (DeviceRequests)`
    : 'no nvidia runtime or CDI devices listed';
  const access = {
    'nvidia-runtime': 'nvidia runtime (DeviceRequests)',
    cdi: `CDI${p.cdiDevices.length ? `: ${p.cdiDevices.join(', ')}` : ' names (Podman)'}`,
    unverified: unlisted,
  }[p.access];
  lines.push(`Engine GPU access: ${access}`);
  if (p.host.kind === 'gpus') {
    lines.push(`Driver: ${p.host.driverVersion}`);
    for (const g of p.host.gpus) {
      lines.push(
        `GPU ${g.index}: ${g.name}, ${g.memoryMiB !== undefined ? `${(g.memoryMiB / 1024).toFixed(0)} GiB` : 'memory n/a'}${g.computeCap ? `, ${smName(g.computeCap)}` : ''}, ${g.uuid}`,
      );
    }
  } else {
    lines.push(
      `Host GPUs: ${{ noDevices: 'none found', driverNotLoaded: 'driver not loaded', notInstalled: 'nvidia-smi not installed', remote: `not checked (remote engine ${p.host.kind === 'remote' ? p.host.host : ''})`, failed: 'nvidia-smi failed' }[p.host.kind]}`,
    );
  }
  if (p.cuda) {
    lines.push(`Image needs CUDA ${p.cuda.version} (${p.cuda.source})${p.driver ? `: ${verdictText(p.driver)}` : ''}`);
  }
  if (p.archs) {
    lines.push(`Image's PyTorch built for: ${p.archs.list.join(' ') || 'no CUDA archs'} (${p.archs.source})`);
  }
  for (const problem of p.problems) {
    lines.push(`${{ error: 'Problem', unknown: 'Not checked', warning: 'Warning' }[problem.severity]}: ${problem.message}`);
  }
  lines.push(`Verdict: ${p.verdict.sentence}`);
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
  image?: { ref: string; details: Pick<ImageDetails, 'env' | 'labels'> & Partial<Pick<ImageDetails, 'id'>> };
  /** The project folder, whose .mlcontainers/locks/ may hold the image's lock with its PyTorch's architectures. */
  folder?: string;
  /** The CUDA of the image's base and its preset's GPU-architecture table; without it, no base CUDA and the shipped catalog's table. */
  catalog?: Catalog;
  devices?: string[];
  /**
   * The architectures the image's PyTorch was built for, from its environment lock (lockArchs in
   * provenance/lock.ts); without it, an image whose preset names a `gpuArchs` table in the catalog is judged by that
   * table's set for its CUDA version.
   */
  archs?: ImageArchs;
  /** nvidia-smi on this machine; tests pass a fake of our own probe. */
  probe?: () => Promise<HostGpuProbe>;
  /** The toolkit's hook and CDI specs on this machine; with a fake `probe` and no fake here, none are found. */
  toolkit?: (specDirs: string[]) => Promise<ToolkitProbe>;
  signal?: AbortSignal;
}

/** Each `gpuArchs` table a catalog entry may name: the framework, and its builds' architectures for a CUDA version. */
const ARCH_TABLES: Record<GpuArchTable, { framework: string; archs: (cuda: string) => string[] | undefined }> = {
  pytorch: { framework: 'PyTorch', archs: pytorchArchsForCuda },
};

function knownArchs(table: GpuArchTable, cuda: string): ImageArchs | undefined {
  const { framework, archs } = ARCH_TABLES[table];
  const list = archs(cuda);
  return list ? { list, source: `${framework}'s CUDA ${cuda} builds` } : undefined;
}

/** The whole preflight: /info and /version, nvidia-smi and the toolkit's files where the engine is local, the image's CUDA. */
export async function checkGpu(o: CheckGpuOptions): Promise<GpuPreflight> {
  const local = isLocalEndpoint(o.engine.endpoint);
  const [info, version, host] = await Promise.all([
    o.engine.info(o.signal),
    o.engine.version(o.signal),
    local
      ? (o.probe ?? (() => probeHostGpus(undefined, o.signal)))()
      : Promise.resolve<HostGpuProbe>({ kind: 'remote', host: o.engine.endpoint.host }),
  ]);
  // A fake machine (tests) must not be mixed with this machine's real toolkit files.
  const toolkitProbe =
    o.toolkit ?? (o.probe ? (dirs: string[]) => Promise.resolve(noToolkit(dirs)) : (dirs: string[]) => probeToolkit(dirs));
  const toolkit = local ? await toolkitProbe(info.cdiSpecDirs.length ? info.cdiSpecDirs : DEFAULT_CDI_SPEC_DIRS) : undefined;
  const facts = o.image ? imageGpuFacts(o.image.details, o.catalog) : undefined;
  const table = o.image ? presetFacts(o.image.details.labels, o.catalog).gpuArchs : undefined;
  const known = table && facts?.cuda ? knownArchs(table, facts.cuda.version) : undefined;
  const id = o.image?.details.id;
  const lock = o.folder && id ? await fs.readFile(lockPath(o.folder, id), 'utf8').catch(() => undefined) : undefined;
  const recorded = lock !== undefined ? lockArchs(lock) : undefined;
  const archs = o.archs ?? (recorded ? { list: recorded, source: 'its environment lock' } : undefined) ?? known;
  return gpuPreflight({
    info,
    version,
    host,
    ...(toolkit ? { toolkit } : {}),
    ...(o.image ? { image: o.image.ref } : {}),
    ...(facts?.cuda ? { cuda: facts.cuda } : {}),
    ...(facts ? { alternatives: facts.alternatives } : {}),
    ...(o.devices ? { devices: o.devices } : {}),
    ...(archs ? { archs } : {}),
  });
}
