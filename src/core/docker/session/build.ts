// A build whose context and Dockerfile travel through a BuildKit session instead of a tar: the session is opened
// first (its id goes in the build request), served while the build runs, and closed when the build ends, fails or
// is cancelled.
import * as path from 'node:path';
import type { ContextScan } from '../buildContext';
import type { BuildEvent, BuildRequest, Engine, RegistryAuth } from '../engine';
import type { EngineError } from '../errors';
import { BuildSession } from './session';

export interface SessionBuildResult {
  imageId: string;
  /** gRPC bytes sent for the context and the Dockerfile (stats and file data). */
  bytesSent: number;
  /** Files whose data the engine asked for. */
  filesSent: number;
}

/**
 * Builds `scan` (the exact context, `dockerfile` relative to its root) through a session. Resolves undefined, having
 * sent nothing, where the engine has no session endpoint: the caller uploads a tar instead.
 */
export async function buildWithSession(
  engine: Engine,
  o: { scan: ContextScan; dockerfile: string; request: Omit<BuildRequest, 'session' | 'dockerfile'>; onEvent?: (event: BuildEvent) => void; signal?: AbortSignal },
): Promise<SessionBuildResult | undefined> {
  const relDockerfile = o.dockerfile.split(path.sep).join('/');
  const dockerfileEntry = o.scan.entries.find((e) => e.path === relDockerfile);
  if (!dockerfileEntry) throw new Error(`the scan has no ${relDockerfile}`);
  const name = path.posix.basename(relDockerfile);
  const credentials = new Map<string, RegistryAuth>((o.request.registryAuth ?? []).map((r) => [r.host, r.auth]));
  const session = new BuildSession({
    contextDir: o.scan.root,
    sources: {
      context: { root: o.scan.root, entries: o.scan.entries, ...(o.scan.ignore ? { ignore: o.scan.ignore } : {}) },
      // The frontend asks this folder for the Dockerfile by name (followpaths); it is offered nothing else.
      dockerfile: { root: path.join(o.scan.root, path.posix.dirname(relDockerfile)), entries: [{ ...dockerfileEntry, path: name }] },
    },
    ...(credentials.size ? { credentials } : {}),
  });
  let socket;
  try {
    socket = await engine.openSession(session.headers(), o.signal);
  } catch (e) {
    session.close();
    if (noSessionEndpoint(e)) return undefined;
    throw e;
  }
  socket.on('error', () => undefined);
  session.attach(socket);
  try {
    // The session answers for the registries: the request carries no credentials.
    const request: BuildRequest = { ...o.request, dockerfile: name, session: session.id, buildKit: true };
    delete request.registryAuth;
    const imageId = await engine.build(undefined, request, o.onEvent, o.signal);
    return { imageId, bytesSent: session.counters.bytes, filesSent: session.counters.files };
  } finally {
    session.close();
    socket.destroy();
  }
}

/** The engine answered POST /session with "no such endpoint" (Podman: 404; old daemons: 400 or 404). */
function noSessionEndpoint(e: unknown): boolean {
  // By shape, not instanceof: the VS Code shell's tests load modules afresh, each with its own EngineError class.
  const status = (e as Partial<EngineError> | undefined)?.statusCode;
  return e instanceof Error && e.name === 'EngineError' && (status === 404 || status === 400 || status === 501);
}
