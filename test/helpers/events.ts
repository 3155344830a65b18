import type { Engine, EngineEvent } from '../../src/core/docker/engine';

/**
 * Records the engine's events from now until stop(), reopening the stream where an engine closes it early (Podman 4.3's
 * file event logger ends a streaming /events now and then): a reopened stream replays from the last second seen, and
 * an event seen twice is kept once.
 */
export function recordEvents(engine: Engine, types: string[], keep: (e: EngineEvent) => boolean): { stop(): Promise<EngineEvent[]> } {
  const kept: EngineEvent[] = [];
  const seen = new Set<string>();
  const stopping = new AbortController();
  let since = Math.floor(Date.now() / 1000) - 1;
  let reopened = 0;
  const follow = async (): Promise<void> => {
    while (!stopping.signal.aborted) {
      try {
        await engine.events(
          { since, types },
          (e) => {
            const key = `${e.id}/${e.action}/${e.time}`;
            since = Math.max(since, e.time);
            if (seen.has(key) || !keep(e)) return;
            seen.add(key);
            kept.push(e);
          },
          stopping.signal,
        );
      } catch (e) {
        if (stopping.signal.aborted) return;
        if (++reopened > 20) throw e;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  };
  const following = follow();
  return {
    async stop() {
      // Events arrive a little after the call that caused them.
      await new Promise((resolve) => setTimeout(resolve, 500));
      stopping.abort();
      await following;
      return kept;
    },
  };
}
