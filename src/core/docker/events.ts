// The engine's /events stream, shared: one connection for every listener (the Experiment Images models of a
// multi-root workspace), reopened after a drop from the last event seen.
import type { Engine, EngineEvent } from './engine';
import type { Logger } from '../log';

/** setTimeout and a clock, injectable so tests can drive the debounce and reconnect without waiting. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  now: () => Date.now(),
};

export interface EngineEventFeedDeps {
  engine: () => Engine;
  /** Events are followed only in a trusted workspace. */
  trusted: () => boolean;
  log: Logger;
  timers?: Timers;
}

/** What a follower of the engine's events hears: an event, the stream dropped, and back after a drop. */
export interface EngineEventListener {
  event(engine: Engine, event: EngineEvent): void;
  dropped(): void;
  resumed(): void;
}

/**
 * One /events stream (images and containers) for every listener, open while at least one listens. A dropped stream
 * is reopened with `since` = the last event seen, after 1 s, doubling to 30 s; listeners hear of the drop and of
 * the reconnection.
 */
export class EngineEventFeed {
  private readonly listeners = new Set<EngineEventListener>();
  private readonly timers: Timers;
  private stop: (() => void) | undefined;

  constructor(private readonly deps: EngineEventFeedDeps) {
    this.timers = deps.timers ?? realTimers;
  }

  /** Listens until the returned function is called; the first listener opens the stream, the last one closes it. */
  subscribe(listener: EngineEventListener): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.stop = this.follow();
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size) return;
      this.stop?.();
      this.stop = undefined;
    };
  }

  private follow(): () => void {
    const controller = new AbortController();
    const log = this.deps.log;
    const each = (f: (l: EngineEventListener) => void): void => [...this.listeners].forEach(f);
    let since: number | undefined;
    let backoff = 1000;
    let timer: unknown;
    const connect = (): void => {
      if (controller.signal.aborted || !this.deps.trusted()) return;
      const openedAt = Math.floor(this.timers.now() / 1000);
      let engine: Engine;
      try {
        engine = this.deps.engine();
      } catch (e) {
        log.warn(`no engine to follow: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      engine
        .events(
          { ...(since !== undefined ? { since } : {}), types: ['image', 'container'] },
          (event) => {
            since = event.time || since;
            backoff = 1000;
            each((l) => l.event(engine, event));
          },
          controller.signal,
        )
        .then(
          () => undefined,
          (e: unknown) => {
            if (controller.signal.aborted) return;
            since ??= openedAt;
            each((l) => l.dropped());
            log.warn(`engine event stream dropped (${e instanceof Error ? e.message : String(e)}); reconnecting in ${backoff / 1000} s`);
            timer = this.timers.setTimeout(() => {
              timer = undefined;
              connect();
              each((l) => l.resumed());
            }, backoff);
            backoff = Math.min(backoff * 2, 30_000);
          },
        );
    };
    connect();
    return () => {
      controller.abort();
      if (timer !== undefined) this.timers.clearTimeout(timer);
    };
  }
}
