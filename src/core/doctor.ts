import type { Engine, EngineInfo, EngineVersion } from './docker/engine';
import { describeEndpoint } from './docker/endpoint';
import type { GpuRuntimeSupport, Support } from './docker/capabilities';
import { buildKitSupport, cacheMountSupport, gpuRuntimeSupport } from './docker/capabilities';
import { isLocalEndpoint } from './docker/endpoint';
import type { ToolkitProbe } from './gpu/toolkit';
import { DEFAULT_CDI_SPEC_DIRS, probeToolkit } from './gpu/toolkit';

export interface DoctorReport {
  endpoint: string;
  engine: EngineVersion;
  info: EngineInfo;
  buildKit: Support;
  /** RUN --mount=type=cache, which the scaffolded Dockerfiles use. */
  cacheMounts: Support;
  gpu: GpuRuntimeSupport;
  notes: string[];
}

/**
 * Asks the engine what it is and what it can do. Throws EngineError when it does not answer. `toolkit` reads the CDI
 * specs on this machine (tests pass a fake); they count only for a local Podman, which names GPUs from them.
 */
export async function runDoctor(
  engine: Engine,
  signal?: AbortSignal,
  toolkit: (specDirs: string[]) => Promise<ToolkitProbe> = probeToolkit,
): Promise<DoctorReport> {
  const [version, info, ping] = await Promise.all([engine.version(signal), engine.info(signal), engine.ping(signal)]);
  const specDirs = info.cdiSpecDirs.length ? info.cdiSpecDirs : DEFAULT_CDI_SPEC_DIRS;
  const cdiSpecs =
    version.isPodman && isLocalEndpoint(engine.endpoint) ? { devices: (await toolkit(specDirs)).cdiDevices, dirs: specDirs } : undefined;
  const notes: string[] = [];
  if (version.isPodman) {
    notes.push(
      "This is Podman's Docker-compatible API: builds use Podman's builder (buildah), and GPUs need CDI names (nvidia.com/gpu=all, from a CDI spec in /etc/cdi or /var/run/cdi) instead of --gpus.",
    );
  }
  if (!isLocalEndpoint(engine.endpoint)) {
    notes.push(
      `Remote engine: ${engine.endpoint.host} runs on another machine. Builds work (the project is sent to it), but runs, Jupyter and Open Shell refuse it, since they bind-mount the project folder, which it cannot see: run mlc on that host, or use a local engine for those.`,
    );
  }
  if (info.rootless) {
    notes.push('Rootless engine: bind-mounted files are owned by your user inside the container as root.');
  }
  return {
    endpoint: describeEndpoint(engine.endpoint),
    engine: version,
    info,
    // What a build decides, from what it reads: /_ping.
    buildKit: buildKitSupport(ping),
    cacheMounts: cacheMountSupport(ping),
    gpu: gpuRuntimeSupport(info, version, cdiSpecs),
    notes,
  };
}

export function formatDoctorReport(report: DoctorReport): string[] {
  const { engine, info } = report;
  const product = engine.isPodman ? 'Podman' : engine.platformName || 'Docker Engine';
  const rows: [string, string][] = [
    ['Endpoint', report.endpoint],
    ['Engine', `${product} ${engine.version} (API ${engine.apiVersion}, ${engine.os}/${engine.arch})`],
    ['BuildKit', `${report.buildKit.available ? 'yes' : 'no'} (${report.buildKit.reason})`],
    ['Cache mounts', `${report.cacheMounts.available ? 'yes' : 'no'} (${report.cacheMounts.reason})`],
    ['Storage driver', info.storageDriver || 'unknown'],
    ['Cgroup', info.cgroupVersion ? `v${info.cgroupVersion}` : 'unknown'],
    ['Resources', `${info.cpus} CPUs, ${(info.memTotal / 2 ** 30).toFixed(1)} GiB`],
    ['GPU runtimes', report.gpu.summary],
    [
      'CDI devices',
      report.gpu.cdiDevices.join(', ') ||
        (info.cdiSpecDirs.length ? `none discovered (spec dirs: ${info.cdiSpecDirs.join(', ')})` : 'none'),
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return [...rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`), ...report.notes.map((n) => `Note: ${n}`)];
}
