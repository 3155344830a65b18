import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { machineEngine } from '../../src/core/docker/machine';
import { isLocalEndpoint } from '../../src/core/docker/endpoint';

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

/** Where scripts/test-remote-engine.sh writes the endpoint of the engine it started. */
const REMOTE_HOST_FILE = path.join(os.tmpdir(), 'mlc-remote-engine.host');

async function connectRemote(): Promise<{ engine: Engine; host: string } | string> {
  const host =
    process.env.MLC_TEST_REMOTE_HOST?.trim() || (fs.existsSync(REMOTE_HOST_FILE) ? fs.readFileSync(REMOTE_HOST_FILE, 'utf8').trim() : '');
  if (!host) return `neither MLC_TEST_REMOTE_HOST nor ${REMOTE_HOST_FILE} names one`;
  const engine = machineEngine(host, { timeoutMs: 10_000 });
  // Misconfigured, not missing: the tests would prove nothing about an engine on this machine.
  if (isLocalEndpoint(engine.endpoint))
    throw new Error(
      `the remote test engine ${host} is this machine (mlc counts it as local); point MLC_TEST_REMOTE_HOST at another host's engine`,
    );
  try {
    await engine.ping();
  } catch (e) {
    return `${host} does not answer: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (!(await engine.inspectImage(STANDIN_DEBIAN))) return `${host} answers but lacks ${STANDIN_DEBIAN}`;
  return { engine, host };
}

let remote: Promise<{ engine: Engine; host: string } | string> | undefined;

/**
 * An engine on "another machine" (its filesystem is not this one's), with the debian stand-in: the one
 * scripts/test-remote-engine.sh starts, or MLC_TEST_REMOTE_HOST. Skipped with the reason when there is none, a
 * failure when CI=true. It is a dockerd beside the local one, so the Podman pass (DOCKER_HOST at Podman) skips it:
 * the Docker pass already ran these tests against the same engine.
 */
export async function requireRemoteEngine(context: Mocha.Context): Promise<{ engine: Engine; host: string }> {
  const local = await requireEngine(context);
  await requireKind(
    context,
    local,
    'docker',
    'the remote test engine is a second dockerd whatever DOCKER_HOST says; the Docker pass tested it',
  );
  remote ??= connectRemote();
  const result = await remote;
  if (typeof result !== 'string') return result;
  if (process.env.CI === 'true') throw new Error(`CI=true but no remote test engine: ${result} (run scripts/test-remote-engine.sh first)`);
  console.log(`      skipped: no remote test engine (${result}); run scripts/test-remote-engine.sh to start one`);
  context.skip();
}
