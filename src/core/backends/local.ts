// This engine as a run backend: runs started here (executePlan, or the detached scheduler of `mlc run --detach`)
// whose containers carry our labels; core/run/lifecycle.ts finishes them from the engine's containers.
import type { Engine } from '../docker/engine';
import { findRunContainers, reconcileRuns, stopRuns } from '../run/lifecycle';
import type { RunBackend } from './backend';

export const LOCAL_BACKEND = 'local';

/** `engine`: asked only when a call needs it, so listing records costs no engine where none is open. */
export function localBackend(engine: () => Engine): RunBackend {
  return {
    id: LOCAL_BACKEND,
    title: 'the engine',
    reconcile: (records, o) =>
      reconcileRuns({ engine: engine(), workspace: o.workspace, log: o.log, records, ...(o.signal ? { signal: o.signal } : {}) }),
    stop: (target, o) =>
      stopRuns({ engine: engine(), workspace: o.workspace, target, log: o.log, ...(o.signal ? { signal: o.signal } : {}) }),
    isLive: async (record, o) => (await findRunContainers(engine(), o.workspace, o.signal)).some((c) => c.runId === record.id && c.running),
  };
}
