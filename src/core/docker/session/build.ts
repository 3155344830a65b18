// A build whose context and Dockerfile travel through a BuildKit session instead of a tar: the session is opened
// first (its id goes in the build request), served while the build runs, and closed when the build ends, fails or
// is cancelled.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContextEntry, ContextScan } from '../buildContext';
import { BuildContextError } from '../buildContext';
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
 * sent nothing, where the engine has no session endpoint: the caller uploads a tar instead. With `open`, the files'
 * bytes come from it rather than from under the scan's root (a context made in memory; its root only names it).
 */
export async function buildWithSession(
  engine: Engine,
  o: {
    scan: Pick<ContextScan, 'root' | 'entries' | 'ignore'>;
    dockerfile: string;
    open?: (path: string) => AsyncIterable<Buffer>;
    request: Omit<BuildRequest, 'session' | 'dockerfile'>;
    onEvent?: (event: BuildEvent) => void;
    signal?: AbortSignal;
  },
): Promise<SessionBuildResult | undefined> {
  const relDockerfile = o.dockerfile.split(path.sep).join('/');
  const scanned = o.scan.entries.find((e) => e.path === relDockerfile);
  if (!scanned) throw new Error(`the scan has no ${relDockerfile}`);
  const dockerfileEntry = scanned.type === 'symlink' && !o.open ? followed(o.scan.root, scanned) : scanned;
  const name = path.posix.basename(relDockerfile);
  const open = o.open;
  const credentials = new Map<string, RegistryAuth>((o.request.registryAuth ?? []).map((r) => [r.host, r.auth]));
  const session = new BuildSession({
    contextDir: o.scan.root,
    sources: {
      context: {
        root: o.scan.root,
        entries: o.scan.entries,
        ...(o.scan.ignore ? { ignore: o.scan.ignore } : {}),
        ...(open ? { open } : {}),
      },
      // The frontend asks this folder for the Dockerfile by name (followpaths); it is offered nothing else.
      dockerfile: {
        root: path.join(o.scan.root, path.posix.dirname(relDockerfile)),
        entries: [{ ...dockerfileEntry, path: name }],
        ...(open ? { open: () => open(relDockerfile) } : {}),
      },
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

/**
 * A Dockerfile that is a link is offered as the file it points to, as the CLI's `followpaths` resolve it (the frontend
 * reads the Dockerfile by name, and the link's target is not in the `dockerfile` source). Only a file inside the
 * context will do, as for the tar the engine reads.
 */
function followed(root: string, link: ContextEntry): ContextEntry {
  let stat: fs.Stats | undefined;
  try {
    // Every link on the way resolved; the end must still be under the (resolved) context.
    const rel = path.relative(fs.realpathSync(root), fs.realpathSync(path.join(root, link.path)));
    if (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel)) stat = fs.statSync(path.join(root, link.path));
  } catch {
    stat = undefined;
  }
  if (!stat?.isFile()) {
    throw new BuildContextError(
      `The Dockerfile ${link.path} is a link to ${link.linkname ?? '?'}, which is not a file inside the build context ${root}: point it at one, or name that file as the Dockerfile.`,
    );
  }
  return { path: link.path, type: 'file', size: stat.size, mode: stat.mode & 0o7777, mtimeMs: stat.mtimeMs };
}

/** The engine answered POST /session with "no such endpoint" (Podman: 404; old daemons: 400 or 404). */
function noSessionEndpoint(e: unknown): boolean {
  // By shape, not instanceof: the VS Code shell's tests load modules afresh, each with its own EngineError class.
  const status = (e as Partial<EngineError> | undefined)?.statusCode;
  return e instanceof Error && e.name === 'EngineError' && (status === 404 || status === 400 || status === 501);
}
