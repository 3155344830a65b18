// Following runs that another process schedules (a detached `mlc run --resume`): each run's container output as it
// starts, its end status when it ends. Only the engine and the records are read, so a follower can come and go
// (a closed terminal, a reloaded window) without touching the runs.
import type { Engine } from '../docker/engine';
import type { Logger } from '../log';
import type { RunContainer } from './lifecycle';
import { findRunContainers, finishRun } from './lifecycle';
import type { RunRecord } from './records';
import { readRuns } from './records';
import { readRunOutput } from './runFolder';
import { terminalText } from '../terminalText';

/** One run to follow, with what to put before each of its lines (`[2/4] ` in a sweep). */
export interface FollowTarget {
  id: string;
  prefix: string;
}

export interface FollowOptions {
  engine: Engine;
  workspace: string;
  targets: readonly FollowTarget[];
  log: Logger;
  onStart?: (target: FollowTarget) => void;
  /** Each line of the run's output, as a terminal may show it: controls other than colours removed (`terminalText`). */
  onLine: (target: FollowTarget, line: string, stream: 'stdout' | 'stderr') => void;
  onEnd?: (target: FollowTarget, record: RunRecord) => void;
  /**
   * Whether runs not started yet may still start (their scheduler is alive, the sweep was not stopped). Asked each
   * round before the engine and the records are read, so a scheduler that ended has written all it ever will.
   */
  moreToCome: () => Promise<boolean>;
  signal: AbortSignal;
  /** Settles when there is news worth looking at before the next second (the scheduler ended). */
  wake?: Promise<unknown>;
}

export interface FollowResult {
  records: RunRecord[];
  /** Targets that never started (the sweep was stopped, or its scheduler failed). */
  notStarted: FollowTarget[];
}

/**
 * Follows the targets until each has a final record or will never start, or until the signal aborts (which stops
 * nothing but the following). A run that ended before it was seen is shown from its output.log.
 */
export async function followRuns(o: FollowOptions): Promise<FollowResult> {
  const state = new Map<string, 'waiting' | 'following' | 'followed' | 'done'>(o.targets.map((t) => [t.id, 'waiting']));
  const records = new Map<string, RunRecord>();
  const following: Promise<void>[] = [];
  // A run that ended while followed is worth a look at once, not a second later.
  let nudge: () => void = () => undefined;

  const end = (t: FollowTarget, record: RunRecord): void => {
    state.set(t.id, 'done');
    records.set(t.id, record);
    o.onEnd?.(t, record);
  };

  // The container writes these lines: only what a terminal can show safely goes on (output.log keeps the bytes).
  const show = (t: FollowTarget, line: string, stream: 'stdout' | 'stderr'): void => o.onLine(t, terminalText(line), stream);

  const follow = async (t: FollowTarget, c: RunContainer): Promise<void> => {
    o.onStart?.(t);
    const split = { stdout: lineSplitter((line) => show(t, line, 'stdout')), stderr: lineSplitter((line) => show(t, line, 'stderr')) };
    try {
      await o.engine.followLogs(c.containerId, (chunk, stream) => split[stream].push(chunk.toString('utf8')), o.signal);
    } catch (e) {
      if (!o.signal.aborted) o.log.warn(`following run ${t.id} stopped: ${e instanceof Error ? e.message : String(e)}`);
    }
    split.stdout.flush();
    split.stderr.flush();
    if (o.signal.aborted) return;
    // Its scheduler finishes it too; whichever sees the end first writes the record, the other reads it.
    await o.engine.waitContainer(c.containerId, o.signal).catch(() => undefined);
    const record = await finishRun({
      engine: o.engine,
      workspace: o.workspace,
      containerId: c.containerId,
      log: o.log,
      signal: o.signal,
    }).catch(() => undefined);
    if (record && record.status !== 'running') end(t, record);
    else state.set(t.id, 'followed');
  };

  // Wakes one pause only: once settled, the next looks are a second apart again.
  let wake: Promise<unknown> | undefined = o.wake?.catch(() => undefined).finally(() => (wake = undefined));
  while (!o.signal.aborted) {
    const coming = await o.moreToCome();
    const [containers, { runs }] = await Promise.all([findRunContainers(o.engine, o.workspace, o.signal), readRuns(o.workspace)]);
    for (const t of o.targets) {
      const now = state.get(t.id);
      if (now === 'done' || now === 'following') continue;
      const container = containers.find((c) => c.runId === t.id);
      const record = runs.find((r) => r.id === t.id);
      if (container && container.state !== 'created' && now === 'waiting') {
        state.set(t.id, 'following');
        following.push(follow(t, container).finally(() => nudge()));
      } else if (!container && record && record.status !== 'running') {
        if (now === 'waiting') await replayOutput(o.workspace, record, (line) => show(t, line, 'stdout'));
        end(t, record);
      }
    }
    const open = [...state.values()].filter((s) => s !== 'done').length;
    if (!open || (!coming && ![...state.values()].includes('following'))) break;
    await pause(1000, o.signal, Promise.race([...(wake ? [wake] : []), new Promise<void>((r) => (nudge = r))]));
  }
  await Promise.all(following);
  const notStarted = o.signal.aborted ? [] : o.targets.filter((t) => state.get(t.id) === 'waiting');
  return { records: o.targets.flatMap((t) => records.get(t.id) ?? []), notStarted };
}

/** Waits `ms`, or less when the signal aborts or `wake` settles. */
function pause(ms: number, signal: AbortSignal, wake: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    void wake.then(done, done);
  });
}

/** A run seen only after it ended: its kept output, line by line. */
async function replayOutput(workspace: string, record: RunRecord, onLine: (line: string) => void): Promise<void> {
  const text = (await readRunOutput(workspace, record.id)).text;
  const split = lineSplitter(onLine);
  split.push(text);
  split.flush();
}

/** Chunks in, whole lines out (CRLF or LF); `flush` gives the last line that had no newline. */
export function lineSplitter(onLine: (line: string) => void): { push(text: string): void; flush(): void } {
  let pending = '';
  return {
    push: (text) => {
      const parts = (pending + text).split(/\r?\n/);
      pending = parts.pop() ?? '';
      for (const line of parts) onLine(line);
    },
    flush: () => {
      if (pending) onLine(pending);
      pending = '';
    },
  };
}
