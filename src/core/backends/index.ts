// The run backends a plan can be sent to (`mlc run --on ID`, Run Experiment's "where"). A new backend is a folder
// beside slurm/ that exports a BatchBackend, and one line in the list below.
import type { RunRecord } from '../run/records';
import { isLocal } from '../run/records';
import type { BackendContext, BatchBackend, RunBackend } from './backend';
import { LOCAL_BACKEND } from './local';
import { slurmBackend } from './slurm/backend';

const backends: BatchBackend[] = [slurmBackend];

/** Every backend a plan can be sent to, in the order they are offered. */
export function batchBackends(): readonly BatchBackend[] {
  return backends;
}

/** The backend `--on` or a record names; undefined when none is registered under that id. */
export function findBackend(id: string): BatchBackend | undefined {
  return backends.find((b) => b.id === id);
}

/** Adds a backend for this process: the unit tests' fake backend, which runs through the same CLI and view code. */
export function registerBackend(backend: BatchBackend): { dispose(): void } {
  backends.push(backend);
  return { dispose: () => void backends.splice(backends.indexOf(backend), 1) };
}

/** The runs on record as running that this backend took (this engine's: `backend` "local" or none). */
export function openRunsOf(backend: RunBackend, records: readonly RunRecord[]): RunRecord[] {
  return records.filter((r) => r.status === 'running' && (isLocal(r) ? backend.id === LOCAL_BACKEND : r.backend === backend.id));
}

/**
 * Asks each backend that has runs open to close the ones whose job ended unrecorded; a backend that fails is
 * reported, not thrown, so the others still answer. What `mlc runs`, `mlc runs --compare` and the view do first.
 */
export async function reconcileOpenRuns(
  backends: readonly RunBackend[],
  records: readonly RunRecord[],
  o: BackendContext,
): Promise<{ changed: boolean; failed: { backend: RunBackend; message: string }[] }> {
  let changed = false;
  const failed: { backend: RunBackend; message: string }[] = [];
  for (const backend of backends) {
    const open = openRunsOf(backend, records);
    if (!open.length) continue;
    try {
      changed = (await backend.reconcile(open, o)) || changed;
    } catch (e) {
      failed.push({ backend, message: e instanceof Error ? e.message : String(e) });
    }
  }
  return { changed, failed };
}
