// Starting a container: create, start, and the fall-backs the engine's answer calls for.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ContainerCreateRequest, Engine } from '../docker/engine';
import { EngineError } from '../docker/errors';
import type { GpuPreflight } from '../gpu/preflight';
import { explainGpuRefusal } from '../gpu/preflight';
import type { Logger } from '../log';
import { newToken } from '../secrets';
import type { GpuDecision, GpuSetting } from './gpu';
import { GpuUnavailableError, cpuFallback } from './gpu';
import type { ContainerSpec } from './request';
import { assertEngineSeesWorkspace } from './remote';
import { asksUnlimitedMemlock, containerRequest } from './request';
import { STATE_DIR } from './workspace';

export interface LaunchedContainer {
  id: string;
  /** The request the running container was created from, after any fall-back. */
  request: ContainerCreateRequest;
  /** The GPU decision it runs with (CPU after an `auto` fall-back). */
  decision: GpuDecision;
  /** One line for the user when the GPU setting could not be honoured. */
  note: string | undefined;
}

/**
 * Creates and starts the container `spec` describes. When the engine refuses the GPU and the setting was `auto`, it
 * runs on CPU instead with a note (an explicit GPU choice fails with the reason); when it cannot lift memlock, it
 * starts with the engine's limit. A container that failed to start is removed.
 */
export async function launchContainer(
  engine: Engine,
  spec: ContainerSpec,
  o: { gpu: GpuSetting; preflight: GpuPreflight | undefined; log: Logger; signal?: AbortSignal },
): Promise<LaunchedContainer> {
  if (spec.mountWorkspace !== false || spec.binds?.length)
    assertEngineSeesWorkspace(engine.endpoint, spec.workspace, `A ${spec.role === 'jupyter' ? 'Jupyter' : spec.role} container`);
  // Mounted read-only over the workspace (workspaceBinds): it must exist, or the engine makes it (as root) or refuses.
  if (spec.mountWorkspace !== false) await fs.mkdir(path.join(spec.workspace, STATE_DIR), { recursive: true });
  let current = spec;
  let note: string | undefined;
  for (let attempt = 1; ; attempt++) {
    let id: string | undefined;
    try {
      // Podman refuses an unknown CDI device at create, Docker at start: both go through the same fall-backs.
      const made = await createNamed(engine, containerRequest(current), o.signal);
      id = made.id;
      await engine.startContainer(id, o.signal);
      return { id, request: made.created, decision: current.decision, note };
    } catch (e) {
      if (id !== undefined) await engine.removeContainer(id, { force: true }).catch(() => undefined);
      const raw = e instanceof EngineError ? (e.raw ?? e.message) : e instanceof Error ? e.message : String(e);
      const explained = o.preflight && current.decision.mode === 'gpu' ? explainGpuRefusal(raw, o.preflight) : undefined;
      // Podman replaces all its default limits with the ones sent, so any limit it cannot apply is the GPU limits' doing.
      const limits = current.decision.mode === 'gpu' && current.decision.podman ? /rlimit type \d|setrlimit/ : /rlimit type 8/;
      if (explained) {
        if (o.gpu !== 'auto') throw new GpuUnavailableError(explained);
        const decision = cpuFallback(explained);
        note = decision.note;
        current = { ...current, decision };
      } else if (limits.test(raw) && asksUnlimitedMemlock(current) && !current.dropMemlock) {
        // Rootless and sandboxed engines cannot lift memlock: run with the engine's limit rather than not at all.
        o.log.warn(
          'this engine cannot raise the locked-memory limit (memlock=-1); starting with its default limit, so pinned-memory transfers may be slower.',
        );
        current = { ...current, dropMemlock: true };
      } else if (/rlimit type \d|setrlimit/.test(raw) && containerRequest(current).HostConfig?.Ulimits?.length && !current.dropUlimits) {
        // Podman replaces its default limits (nofile, nproc) with the Ulimits sent (runArgs --ulimit): where the
        // host cannot raise the ones it then falls back to, start with the engine's own limits instead.
        o.log.warn(
          `this engine refused the container limits asked for (${(containerRequest(current).HostConfig?.Ulimits ?? []).map((u) => u.Name).join(', ')}, from runArgs --ulimit or the GPU defaults); starting with the engine's default limits.`,
        );
        current = { ...current, dropUlimits: true };
      } else {
        throw e;
      }
      if (attempt >= 4) throw e;
    }
  }
}

/** Creates a container; when its name is taken by one we did not make, with a random suffix instead. */
async function createNamed(
  engine: Engine,
  request: ContainerCreateRequest,
  signal?: AbortSignal,
): Promise<{ id: string; created: ContainerCreateRequest }> {
  try {
    return { id: await engine.createContainer(request, signal), created: request };
  } catch (e) {
    if (e instanceof EngineError && e.reason === 'conflict' && request.name) {
      const created = { ...request, name: `${request.name}-${newToken().slice(0, 6)}` };
      return { id: await engine.createContainer(created, signal), created };
    }
    throw e;
  }
}
