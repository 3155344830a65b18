// What this machine's files say about the NVIDIA Container Toolkit, for an engine that runs here.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { loadYaml } from '../yaml';

/** Where Podman (and Docker with CDI enabled) read CDI specs unless configured otherwise. */
export const DEFAULT_CDI_SPEC_DIRS = ['/etc/cdi', '/var/run/cdi'];

const HOOK = 'nvidia-container-runtime-hook';

/** The toolkit pieces found on the engine's machine. */
export interface ToolkitProbe {
  /**
   * Path of nvidia-container-runtime-hook. Docker registers its `nvidia` DeviceRequests driver whenever the hook is
   * on its PATH, so GPUs work even when no `nvidia` runtime is listed in /info.
   */
  hook: string | undefined;
  /** NVIDIA GPU devices named by CDI specs (nvidia.com/gpu=all, nvidia.com/gpu=0 …): what Podman can hand out. */
  cdiDevices: string[];
  /** The directories searched for CDI specs. */
  specDirs: string[];
}

export function noToolkit(specDirs: string[] = DEFAULT_CDI_SPEC_DIRS): ToolkitProbe {
  return { hook: undefined, cdiDevices: [], specDirs };
}

/** Looks for the hook on PATH (and where the packages put it) and reads the NVIDIA CDI specs in `specDirs`. */
export async function probeToolkit(specDirs: string[], pathVariable = process.env.PATH ?? ''): Promise<ToolkitProbe> {
  const binDirs = [...new Set([...pathVariable.split(path.delimiter).filter(Boolean), '/usr/bin', '/usr/local/bin'])];
  const [hook, devices] = await Promise.all([
    firstExecutable(binDirs.map((d) => path.join(d, HOOK))),
    Promise.all(specDirs.map(cdiDevicesIn)),
  ]);
  return { hook, cdiDevices: [...new Set(devices.flat())].sort(), specDirs };
}

async function firstExecutable(candidates: string[]): Promise<string | undefined> {
  for (const file of candidates) {
    if (
      await fs.access(file, fs.constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return file;
  }
  return undefined;
}

async function cdiDevicesIn(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const specs = await Promise.all(
    names.filter((n) => /\.(ya?ml|json)$/.test(n)).map((n) => fs.readFile(path.join(dir, n), 'utf8').catch(() => '')),
  );
  return specs.flatMap(nvidiaGpuDevices);
}

/** The `nvidia.com/gpu=<name>` devices one CDI spec (YAML or JSON) declares; nothing for other kinds or bad files. */
export function nvidiaGpuDevices(text: string): string[] {
  let spec: unknown;
  try {
    spec = loadYaml().parse(text);
  } catch {
    return [];
  }
  if (typeof spec !== 'object' || spec === null) return [];
  const { kind, devices } = spec as { kind?: unknown; devices?: unknown };
  if (kind !== 'nvidia.com/gpu' || !Array.isArray(devices)) return [];
  return devices.flatMap((d: unknown) => {
    const name = typeof d === 'object' && d !== null ? (d as { name?: unknown }).name : undefined;
    return typeof name === 'string' || typeof name === 'number' ? [`${kind}=${name}`] : [];
  });
}
