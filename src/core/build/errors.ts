// How a build fails in words: the step and its last lines, or the engine that stopped under it.
import type { Engine } from '../docker/engine';
import { engineStoppedError, isEngineGone } from '../docker/errors';
import { UserError } from '../errors';

export class BuildFailedError extends UserError {
  constructor(
    message: string,
    readonly step: string,
    readonly logTail: string[],
  ) {
    super(message);
    this.name = 'BuildFailedError';
  }
}

/**
 * A build the engine dropped (stopped, killed, restarting) says so in one sentence, not in the stream's last words
 * ("finished the build without reporting an image id", a reset connection): the engine is asked once more.
 */
export async function throwIfEngineStopped(engine: Engine, signal: AbortSignal | undefined, e: unknown): Promise<void> {
  if (signal?.aborted) return;
  const gone =
    isEngineGone(e) ||
    (await engine.ping().then(
      () => false,
      (p: unknown) => isEngineGone(p),
    ));
  if (gone)
    throw engineStoppedError(engine.endpoint, 'during the build', 'no image was tagged and no lock written; start it, then build again.');
}
