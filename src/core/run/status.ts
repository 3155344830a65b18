// How a run's status and commit read, in one place for every table: `mlc runs`, `mlc runs --compare`, the Compare
// Runs panel and the Experiment Images tree (which translates the words).
import type { RunRecord } from './records';
import { endWord, isPending } from './records';

/** What a run's status cell says: one of these kinds, an exit code, or the word for what ended it (timeout…). */
export type RunStatusWord =
  { kind: 'pending' | 'running' | 'ok' | 'not started' | 'cancelled' } | { kind: 'exit'; code: number } | { kind: 'ended'; word: string };

/**
 * pending (queued in a backend, not started yet), running, ok, exit N, cancelled; "not started" for a failed run with
 * no exit code (its container never ran); the backend's word (timeout, out of memory) or "engine stopped" for what
 * ended it.
 */
export function runStatus(r: RunRecord): RunStatusWord {
  if (r.status === 'running') return { kind: isPending(r) ? 'pending' : 'running' };
  const word = endWord(r);
  if (word) return { kind: 'ended', word };
  if (r.status === 'succeeded') return { kind: 'ok' };
  if (r.status === 'cancelled') return { kind: 'cancelled' };
  return r.exitCode === null ? { kind: 'not started' } : { kind: 'exit', code: r.exitCode };
}

/** The status in English, as the CLI and the Compare Runs panel print it. */
export function statusText(s: RunStatusWord): string {
  return s.kind === 'exit' ? `exit ${s.code}` : s.kind === 'ended' ? s.word : s.kind;
}

/** The commit cell: its first 7 digits, `+dirty` with uncommitted changes, `-` without a commit. */
export function commitCell(commit: string | null, dirty: boolean): string {
  return commit ? `${commit.slice(0, 7)}${dirty ? '+dirty' : ''}` : '-';
}
