import type { EngineInfo, EngineVersion } from './engine';

export interface Support {
  available: boolean;
  reason: string;
}

/** BuildKit through the Engine API (`POST /build?version=2`) needs API 1.39+, Linux containers, and not Podman. */
export function buildKitSupport(version: EngineVersion, info: EngineInfo): Support {
  if (version.isPodman) {
    return { available: false, reason: "Podman's Docker-compatible API has no BuildKit; builds use the classic builder, so RUN --mount=type=cache steps fail" };
  }
  if (info.osType && info.osType !== 'linux') {
    return { available: false, reason: `BuildKit builds Linux images only; this engine runs ${info.osType} containers` };
  }
  if (compareApiVersions(version.apiVersion, '1.39') < 0) {
    return { available: false, reason: `Engine API ${version.apiVersion} predates BuildKit (1.39); update Docker` };
  }
  return { available: true, reason: 'Engine API version=2 builds' };
}

export interface GpuRuntimeSupport {
  nvidiaRuntime: boolean;
  cdiDevices: string[];
  summary: string;
}

/** What /info says about GPU access; the full preflight (driver vs CUDA) builds on this. */
export function gpuRuntimeSupport(info: EngineInfo, version: EngineVersion): GpuRuntimeSupport {
  const nvidiaRuntime = info.runtimes.includes('nvidia');
  const cdiDevices = info.discoveredDevices.filter((d) => d.source === 'cdi').map((d) => d.id);
  const parts: string[] = [];
  if (nvidiaRuntime) {
    parts.push(`nvidia runtime${info.defaultRuntime === 'nvidia' ? ' (default)' : ''}`);
  }
  if (cdiDevices.length) {
    parts.push(`CDI: ${cdiDevices.join(', ')}`);
  }
  if (version.isPodman) {
    parts.push('Podman: GPUs are requested by CDI name (nvidia.com/gpu=all), DeviceRequests are ignored');
  }
  return {
    nvidiaRuntime,
    cdiDevices,
    summary: parts.length ? parts.join('; ') : `none (runtimes: ${info.runtimes.join(', ') || 'none'})`,
  };
}

/** Engine API versions compare as dotted numbers: 1.41 > 1.9. */
export const compareApiVersions = compareDottedVersions;

/** Compares "1.41" / "535.104.05"-style versions field by field as numbers; missing fields count as 0. */
export function compareDottedVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) {
      return d;
    }
  }
  return 0;
}
