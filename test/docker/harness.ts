import type { Engine } from '../../src/core/docker/engine';
import { machineEngine } from '../../src/core/docker/machine';

/** Stand-in base images built by scripts/test-engine.sh; no registry is reachable in CI. */
export const STANDIN_DEBIAN = 'mlc-test/debian:bookworm';

let cached: Promise<Engine | string> | undefined;

async function connect(): Promise<Engine | string> {
  const engine = machineEngine(undefined, { timeoutMs: 10_000 });
  try {
    await engine.ping();
    return engine;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/**
 * The engine for this suite. On a laptop without Docker the suite is skipped with the reason printed;
 * in CI (CI=true) a missing engine fails the run, so the Docker tier can never silently not run there.
 */
export async function requireEngine(context: Mocha.Context): Promise<Engine> {
  cached ??= connect();
  const result = await cached;
  if (typeof result !== 'string') {
    return result;
  }
  if (process.env.CI === 'true') {
    throw new Error(`CI=true but no Docker engine answers: ${result} (run scripts/test-engine.sh first)`);
  }
  console.log(`      skipped: no Docker engine (${result}); run scripts/test-engine.sh to start one`);
  context.skip();
}

export async function requireImage(context: Mocha.Context, engine: Engine, ref: string): Promise<void> {
  if (await engine.inspectImage(ref)) {
    return;
  }
  const message = `stand-in image ${ref} is missing; run scripts/test-engine.sh`;
  if (process.env.CI === 'true') {
    throw new Error(message);
  }
  console.log(`      skipped: ${message}`);
  context.skip();
}

/** Which engine the tier runs against (DOCKER_HOST may point at Podman's socket: scripts/test-podman.sh). */
export type EngineKind = 'docker' | 'podman';

let kind: Promise<EngineKind> | undefined;

export async function engineKind(engine: Engine): Promise<EngineKind> {
  kind ??= engine.version().then((v) => (v.isPodman ? 'podman' : 'docker'));
  return kind;
}

/**
 * Skips the test (or suite, from a hook) on engines that lack what it needs, printing the reason as the other skips
 * do, so a Podman pass says what it did not test and why.
 */
export async function requireKind(context: Mocha.Context, engine: Engine, wanted: EngineKind, reason: string): Promise<void> {
  if ((await engineKind(engine)) === wanted) return;
  console.log(`      skipped: ${reason}`);
  context.skip();
}
