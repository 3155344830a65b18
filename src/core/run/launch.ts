// What Jupyter and experiment runs share: the GPU decision from the preflight, and starting a container with the
// fall-backs the engine's answer calls for.
import type { Engine, ImageDetails } from '../docker/engine';
import { EngineError } from '../docker/errors';
import type { GpuPreflight } from '../gpu/preflight';
import { checkGpu, explainGpuRefusal } from '../gpu/preflight';
import type { HostGpuProbe } from '../gpu/nvidiaSmi';
import type { Logger } from '../log';
import type { Catalog } from '../scaffold/catalog';
import { newToken } from '../secrets';
import type { GpuDecision, GpuSetting } from './gpuOptions';
import { GpuUnavailableError, cpuFallback, decideGpu } from './gpuOptions';

export interface GpuChoice {
  decision: GpuDecision;
  /** One line for the user when the GPU setting could not be honoured (auto → CPU). */
  note: string | undefined;
  preflight: GpuPreflight | undefined;
}

/** Runs the preflight (unless the setting is "none") and decides; the preflight's warnings go to the log. */
export async function chooseGpu(
  o: { engine: Engine; image: { ref: string; details: ImageDetails }; gpu: GpuSetting; catalog?: Catalog; probe?: () => Promise<HostGpuProbe>; log: Logger; signal?: AbortSignal },
): Promise<GpuChoice> {
  const preflight = o.gpu === 'none'
    ? undefined
    : await checkGpu({ engine: o.engine, image: o.image, ...(o.catalog ? { catalog: o.catalog } : {}), ...(Array.isArray(o.gpu) ? { devices: o.gpu } : {}), ...(o.probe ? { probe: o.probe } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  const decision = decideGpu(o.gpu, preflight);
  for (const warning of decision.mode === 'gpu' ? decision.warnings : []) o.log.warn(warning);
  return { decision, note: decision.mode === 'cpu' ? decision.note : undefined, preflight };
}

/** "none", "all" or "0,1": how a container's GPUs are labelled and recorded. */
export function gpuLabel(decision: GpuDecision): string {
  return decision.mode === 'cpu' ? 'none' : decision.devices === 'all' ? 'all' : decision.devices.join(',');
}

/** What a create request is built from that the engine's refusals can change. */
export interface LaunchState {
  decision: GpuDecision;
  /** The engine refused memlock=-1 (rootless): keep its default. */
  dropMemlock?: boolean;
}

/**
 * Creates (through `create`, which reads `state`) and starts a container. When the engine refuses the GPU and the
 * setting was `auto`, it runs on CPU instead with a note (an explicit GPU choice fails with the reason); when it
 * cannot lift memlock, it starts with the engine's limit. A container that failed to start is removed.
 */
export async function startWithFallbacks(
  engine: Engine,
  state: LaunchState,
  create: () => Promise<string>,
  o: { gpu: GpuSetting; preflight: GpuPreflight | undefined; log: Logger; signal?: AbortSignal },
): Promise<{ id: string; note: string | undefined }> {
  let note: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const id = await create();
    try {
      await engine.startContainer(id, o.signal);
      return { id, note };
    } catch (e) {
      await engine.removeContainer(id, { force: true }).catch(() => undefined);
      const raw = e instanceof Error ? e.message : String(e);
      const explained = o.preflight && state.decision.mode === 'gpu' ? explainGpuRefusal(raw, o.preflight) : undefined;
      if (explained) {
        if (o.gpu !== 'auto') throw new GpuUnavailableError(explained);
        state.decision = cpuFallback(explained);
        note = state.decision.note;
      } else if (/rlimit type 8/.test(raw) && state.decision.mode === 'gpu' && !state.dropMemlock) {
        // Rootless and sandboxed engines cannot lift memlock: run with the engine's limit rather than not at all.
        o.log.warn('this engine cannot raise the locked-memory limit (memlock=-1); starting with its default limit, so pinned-memory transfers may be slower.');
        state.dropMemlock = true;
      } else {
        throw e;
      }
      if (attempt >= 3) throw e;
    }
  }
}

/** Creates a container; when its name is taken by one we did not make, with a random suffix instead. */
export async function createNamed(engine: Engine, request: Parameters<Engine['createContainer']>[0], signal?: AbortSignal): Promise<string> {
  try {
    return await engine.createContainer(request, signal);
  } catch (e) {
    if (e instanceof EngineError && e.reason === 'conflict' && request.name) {
      return engine.createContainer({ ...request, name: `${request.name}-${newToken().slice(0, 6)}` }, signal);
    }
    throw e;
  }
}
