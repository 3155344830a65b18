// The GPU setting and the decision the preflight allows; container/request.ts renders the decision.
import type { Engine, ImageDetails } from '../docker/engine';
import { UserError } from '../errors';
import type { HostGpuProbe } from '../gpu/nvidiaSmi';
import { NVIDIA_SMI_ARGS, interpretNvidiaSmi } from '../gpu/nvidiaSmi';
import type { GpuPreflight } from '../gpu/preflight';
import type { ToolkitProbe } from '../gpu/toolkit';
import { checkGpu } from '../gpu/preflight';
import type { Logger } from '../log';
import type { Catalog } from '../scaffold/catalog';

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
  const ids = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
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
 * Turns the setting and the preflight's verdict into what the container gets. When the verdict is "will not work",
 * `auto` runs on CPU with a one-line note and an explicit choice fails with the problem's sentence; when it is
 * "can't tell" (a remote engine, nvidia-smi not on PATH), both ask for the GPU and the engine's answer decides.
 */
export function decideGpu(setting: GpuSetting, preflight: GpuPreflight | undefined): GpuDecision {
  if (setting === 'none') return { mode: 'cpu' };
  if (!preflight) throw new Error('GPU preflight missing');
  const blocking = preflight.verdict.kind === 'blocked' ? preflight.problems.find((p) => p.severity === 'error') : undefined;
  if (blocking) {
    if (setting === 'auto') return cpuFallback(blocking.short);
    throw new GpuUnavailableError(blocking.message);
  }
  const warnings = preflight.problems.filter((p) => p.severity !== 'error').map((p) => p.message);
  return {
    mode: 'gpu',
    devices: setting === 'auto' ? 'all' : setting,
    via: preflight.access === 'cdi' ? 'cdi' : 'device-requests',
    podman: preflight.isPodman,
    warnings,
  };
}

export function cpuFallback(reason: string): Extract<GpuDecision, { mode: 'cpu' }> {
  return { mode: 'cpu', note: `GPU: off (${reason}); running on CPU. \`mlc doctor --gpu\` or "ML Containers: Check GPU Setup" explains.` };
}

export interface GpuChoice {
  decision: GpuDecision;
  /** One line for the user when the GPU setting could not be honoured (auto → CPU). */
  note: string | undefined;
  preflight: GpuPreflight | undefined;
}

/** Runs the preflight (unless the setting is "none") and decides; the preflight's warnings go to the log. */
export async function chooseGpu(o: {
  engine: Engine;
  image: { ref: string; details: ImageDetails };
  gpu: GpuSetting;
  catalog?: Catalog;
  probe?: () => Promise<HostGpuProbe>;
  toolkit?: (specDirs: string[]) => Promise<ToolkitProbe>;
  /** The project folder, whose environment lock of the image says which GPU architectures its PyTorch has. */
  folder?: string;
  log: Logger;
  signal?: AbortSignal;
}): Promise<GpuChoice> {
  const preflight =
    o.gpu === 'none'
      ? undefined
      : await checkGpu({
          engine: o.engine,
          image: o.image,
          ...(o.catalog ? { catalog: o.catalog } : {}),
          ...(Array.isArray(o.gpu) ? { devices: o.gpu } : {}),
          ...(o.probe ? { probe: o.probe } : {}),
          ...(o.toolkit ? { toolkit: o.toolkit } : {}),
          ...(o.folder ? { folder: o.folder } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        });
  const decision = decideGpu(o.gpu, preflight);
  for (const warning of decision.mode === 'gpu' ? decision.warnings : []) o.log.warn(warning);
  return { decision, note: decision.mode === 'cpu' ? decision.note : undefined, preflight };
}

/** A GPU as nvidia-smi inside a container listed it. */
export interface SeenGpu {
  index: string;
  name: string;
  uuid: string;
}

/**
 * The GPUs a running container can use, by nvidia-smi inside it: what a record can trust later, whatever was asked
 * for. [] when nvidia-smi ran and found none; undefined when it could not say (not in the image — the NVIDIA toolkit
 * mounts it only into GPU containers —, the container already gone, a driver error).
 */
export async function seenGpus(engine: Engine, containerId: string, signal?: AbortSignal): Promise<SeenGpu[] | undefined> {
  const result = await engine.execCapture(containerId, ['nvidia-smi', ...NVIDIA_SMI_ARGS], signal).catch(() => undefined);
  if (!result) return undefined;
  const probe = interpretNvidiaSmi({ code: result.exitCode, stdout: result.stdout, stderr: result.stderr });
  if (probe.kind === 'noDevices') return [];
  return probe.kind === 'gpus' ? probe.gpus.map((g) => ({ index: g.index, name: g.name, uuid: g.uuid })) : undefined;
}
