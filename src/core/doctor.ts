import type { Engine, EngineInfo, EngineVersion } from './docker/engine';
import { describeEndpoint } from './docker/endpoint';
import type { GpuRuntimeSupport, Support } from './docker/capabilities';
import { buildKitSupport, gpuRuntimeSupport } from './docker/capabilities';

export interface DoctorReport {
  endpoint: string;
  engine: EngineVersion;
  info: EngineInfo;
  buildKit: Support;
  gpu: GpuRuntimeSupport;
  notes: string[];
}

/** Asks the engine what it is and what it can do. Throws EngineError when it does not answer. */
export async function runDoctor(engine: Engine, signal?: AbortSignal): Promise<DoctorReport> {
  const [version, info] = await Promise.all([engine.version(signal), engine.info(signal)]);
  const notes: string[] = [];
  if (version.isPodman) {
    notes.push(
      "This is Podman's Docker-compatible API: builds use the classic builder (no RUN --mount cache), and GPUs need CDI names (nvidia.com/gpu=all) instead of --gpus.",
    );
  }
  if (info.rootless) {
    notes.push('Rootless engine: bind-mounted files are owned by your user inside the container as root.');
  }
  return {
    endpoint: describeEndpoint(engine.endpoint),
    engine: version,
    info,
    buildKit: buildKitSupport(version, info),
    gpu: gpuRuntimeSupport(info, version),
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
    ['Storage driver', info.storageDriver || 'unknown'],
    ['Cgroup', info.cgroupVersion ? `v${info.cgroupVersion}` : 'unknown'],
    ['Resources', `${info.cpus} CPUs, ${(info.memTotal / 2 ** 30).toFixed(1)} GiB`],
    ['GPU runtimes', report.gpu.summary],
    ['CDI devices', report.gpu.cdiDevices.join(', ') || (info.cdiSpecDirs.length ? `none discovered (spec dirs: ${info.cdiSpecDirs.join(', ')})` : 'none')],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return [...rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`), ...report.notes.map((n) => `Note: ${n}`)];
}
