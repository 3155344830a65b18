import type { EngineInfo, EnginePing, EngineVersion } from './engine';

export interface Support {
  available: boolean;
  reason: string;
}

/**
 * BuildKit through the Engine API (`POST /build?version=2`) needs API 1.39+, Linux containers, and not Podman. The
 * builder choices read what /_ping says (Engine.ping), as the docker CLI decides before a build.
 */
export function buildKitSupport(engine: EnginePing): Support {
  if (engine.isPodman) {
    // Podman answers version=2 with its own builder and 404s BuildKit's /session and /grpc endpoints.
    return {
      available: false,
      reason: "Podman's Docker-compatible API has no BuildKit; builds use Podman's own builder (buildah) through the classic /build",
    };
  }
  if (engine.osType && engine.osType !== 'linux') {
    return { available: false, reason: `BuildKit builds Linux images only; this engine runs ${engine.osType} containers` };
  }
  if (compareApiVersions(engine.apiVersion, '1.39') < 0) {
    return { available: false, reason: `Engine API ${engine.apiVersion} predates BuildKit (1.39); update Docker` };
  }
  return { available: true, reason: 'Engine API version=2 builds' };
}

/**
 * Whether a build can sync its context through a BuildKit session (POST /session, FileSync), as `docker build`
 * does: BuildKit through the Engine API. Podman answers /session with 404 and old daemons lack it; those builds
 * upload the whole context as a tar (and a 404 met at run time falls back to it too).
 */
export function sessionSupport(engine: EnginePing): Support {
  const buildKit = buildKitSupport(engine);
  if (!buildKit.available) return { available: false, reason: buildKit.reason };
  return { available: true, reason: 'BuildKit session: the engine asks for the files whose stat changed since its last sync' };
}

/** The Podman release whose builder (buildah 1.24) takes `RUN --mount=type=cache` through the compat /build. */
const PODMAN_CACHE_MOUNTS = '4.0';

/**
 * Whether `RUN --mount=type=cache` works, as the scaffolded Dockerfiles use it: with BuildKit, and with Podman 4's
 * builder (buildah keeps the cache across steps and builds; verified with Podman 4.3.1 / buildah 1.28). Docker's
 * classic builder refuses the flag.
 */
export function cacheMountSupport(engine: EnginePing): Support {
  const buildKit = buildKitSupport(engine);
  if (buildKit.available) return { available: true, reason: 'BuildKit keeps the cache between builds' };
  if (engine.isPodman) {
    return compareDottedVersions(engine.version, PODMAN_CACHE_MOUNTS) >= 0
      ? { available: true, reason: "Podman's builder (buildah) keeps the cache between builds" }
      : {
          available: false,
          reason: `Podman ${engine.version}'s builder predates RUN --mount (Podman ${PODMAN_CACHE_MOUNTS}); update Podman`,
        };
  }
  return { available: false, reason: `${buildKit.reason}, and the classic builder refuses RUN --mount` };
}

export interface GpuRuntimeSupport {
  nvidiaRuntime: boolean;
  cdiDevices: string[];
  summary: string;
}

/**
 * What /info says about GPU access; the full preflight (driver vs CUDA) builds on this. Podman lists no CDI devices
 * in /info: `cdiSpecs` are the NVIDIA devices its spec files declare, where they could be read (a local engine).
 */
export function gpuRuntimeSupport(
  info: EngineInfo,
  version: EngineVersion,
  cdiSpecs?: { devices: string[]; dirs: string[] },
): GpuRuntimeSupport {
  const nvidiaRuntime = info.runtimes.includes('nvidia');
  const discovered = info.discoveredDevices.filter((d) => d.source === 'cdi').map((d) => d.id);
  const cdiDevices = discovered.length || !version.isPodman ? discovered : (cdiSpecs?.devices ?? []);
  const parts: string[] = [];
  if (nvidiaRuntime) {
    parts.push(`nvidia runtime${info.defaultRuntime === 'nvidia' ? ' (default)' : ''}`);
  }
  if (cdiDevices.length) {
    parts.push(`CDI: ${cdiDevices.join(', ')}`);
  }
  if (version.isPodman) {
    const specs = !cdiSpecs
      ? ' (its CDI specs cannot be checked from here)'
      : cdiDevices.length
        ? ''
        : `, and there is no NVIDIA CDI spec in ${cdiSpecs.dirs.join(', ')}, so containers get no GPU`;
    parts.push(`Podman: GPUs are requested by CDI name (nvidia.com/gpu=all), DeviceRequests are ignored${specs}`);
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
