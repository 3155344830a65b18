import type { ContainerHostConfig } from '../docker/engine';
import { UserError } from '../errors';
import type { GpuPreflight } from '../gpu/preflight';

/** The mlContainers.gpu setting / `--gpu` flag. */
export type GpuSetting = 'auto' | 'all' | 'none' | string[];

/** Accepts "auto", "all", "none", "0,1", "GPU-uuid", or a list of ids; throws on anything else. */
export function parseGpuSetting(raw: unknown): GpuSetting {
  if (raw === undefined || raw === null || raw === '') return 'auto';
  if (Array.isArray(raw)) {
    const ids = raw.map((r) => String(r).trim()).filter(Boolean);
    if (!ids.length) return 'none';
    ids.forEach(checkId);
    return ids;
  }
  const text = String(raw).trim();
  if (text === 'auto' || text === 'all' || text === 'none') return text;
  const ids = text.split(',').map((s) => s.trim()).filter(Boolean);
  ids.forEach(checkId);
  return ids;
}

function checkId(id: string): void {
  if (!/^(\d+|(GPU|MIG)-[0-9A-Za-z-]+)$/.test(id)) {
    throw new Error(`"${id}" is not a GPU: use auto, all, none, device indexes such as 0,1, or UUIDs from \`nvidia-smi -L\`.`);
  }
}

export class GpuUnavailableError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'GpuUnavailableError';
  }
}

export type GpuDecision =
  | { mode: 'gpu'; devices: 'all' | string[]; via: 'device-requests' | 'cdi'; podman: boolean; warnings: string[] }
  | { mode: 'cpu'; note?: string };

/**
 * Turns the setting and the preflight into what the container gets. `auto` runs on CPU with a one-line note when the
 * preflight finds a problem; an explicit choice fails with the problem's sentence instead — except when the only
 * doubt is a missing nvidia-smi (PATH, WSL) or an unlisted runtime: then the engine's answer decides.
 */
export function decideGpu(setting: GpuSetting, preflight: GpuPreflight | undefined): GpuDecision {
  if (setting === 'none') return { mode: 'cpu' };
  if (!preflight) throw new Error('GPU preflight missing');
  const errors = preflight.problems.filter((p) => p.severity === 'error');
  const warnings = preflight.problems.filter((p) => p.severity === 'warning').map((p) => p.message);
  const devices = setting === 'auto' ? 'all' : setting;
  const gpu: GpuDecision = { mode: 'gpu', devices, via: preflight.access === 'cdi' ? 'cdi' : 'device-requests', podman: preflight.isPodman, warnings };
  if (setting === 'auto') {
    const first = errors[0];
    return first ? cpuFallback(first.short) : gpu;
  }
  const blocking = errors.find((p) => p.code !== 'noDriver');
  if (blocking) throw new GpuUnavailableError(blocking.message);
  return gpu;
}

export function cpuFallback(reason: string): Extract<GpuDecision, { mode: 'cpu' }> {
  return { mode: 'cpu', note: `GPU: off (${reason}); running on CPU. \`mlc doctor --gpu\` or "ML Containers: Check GPU Setup" explains.` };
}

/** The HostConfig fields a run's GPU choice and limits set. */
export type RunHostConfig = Pick<ContainerHostConfig, 'DeviceRequests' | 'Devices' | 'ShmSize' | 'Ulimits'>;

/** `--gpus all` / `--gpus device=0,1` as the docker CLI sends them (Driver "" lets the engine pick nvidia). */
export function deviceRequests(devices: 'all' | string[]): NonNullable<RunHostConfig['DeviceRequests']> {
  return devices === 'all'
    ? [{ Driver: '', Count: -1, Capabilities: [['gpu']] }]
    : [{ Driver: '', DeviceIDs: devices, Capabilities: [['gpu']] }];
}

/** CDI names: nvidia.com/gpu=all, nvidia.com/gpu=0, nvidia.com/gpu=GPU-… */
export function cdiNames(devices: 'all' | string[]): string[] {
  return (devices === 'all' ? ['all'] : devices).map((d) => `nvidia.com/gpu=${d}`);
}

/** Docker (>= 25) takes CDI names as DeviceRequests with the "cdi" driver; Podman as Devices. */
export function cdiHostConfig(devices: 'all' | string[], podman: boolean): RunHostConfig {
  const names = cdiNames(devices);
  return podman
    ? { Devices: names.map((n) => ({ PathOnHost: n, PathInContainer: '', CgroupPermissions: '' })) }
    : { DeviceRequests: [{ Driver: 'cdi', DeviceIDs: names }] };
}

/** Pinned host memory (CUDA, NCCL) needs an unlimited memlock; NVIDIA's containers ask for a 64 MB stack. */
export const GPU_ULIMITS: NonNullable<RunHostConfig['Ulimits']> = [
  { Name: 'memlock', Soft: -1, Hard: -1 },
  { Name: 'stack', Soft: 67108864, Hard: 67108864 },
];

export function runHostConfig(decision: GpuDecision, shmSizeBytes: number): RunHostConfig {
  const base: RunHostConfig = { ShmSize: shmSizeBytes };
  if (decision.mode === 'cpu') return base;
  const devices = decision.via === 'cdi' ? cdiHostConfig(decision.devices, decision.podman) : { DeviceRequests: deviceRequests(decision.devices) };
  return { ...base, ...devices, Ulimits: GPU_ULIMITS };
}

/** The same choice as docker CLI flags, for "Copy docker run Command". */
export function gpuCliFlags(decision: GpuDecision): string[] {
  if (decision.mode === 'cpu') return [];
  const devices = decision.via === 'cdi' ? cdiNames(decision.devices).flatMap((n) => ['--device', n]) : ['--gpus', decision.devices === 'all' ? 'all' : `"device=${decision.devices.join(',')}"`];
  return [...devices, '--ulimit', 'memlock=-1', '--ulimit', 'stack=67108864'];
}

/** "8g", "512m", "1024" (bytes) → bytes, as `docker run --shm-size` reads them. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*$/i.exec(text);
  if (!m) throw new Error(`"${text}" is not a size such as 8g or 512m.`);
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * unit);
}
