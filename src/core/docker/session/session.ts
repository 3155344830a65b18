// A BuildKit session as the docker CLI runs one for `docker build` (cli/command/image/build_buildkit.go): the engine
// upgrades POST /session to HTTP/2 and calls back into the services we expose on it. Here: FileSync (the build
// context and the Dockerfile as the local sources `context` and `dockerfile`), Auth (each registry's own
// credentials) and the health check the daemon polls to keep the session open.
import { createHash, randomBytes } from 'node:crypto';
import * as os from 'node:os';
import type { Duplex } from 'node:stream';
import type { ContextEntry, ContextScan, SourceFilter } from '../buildContext';
import { filterEntries } from '../buildContext';
import type { RegistryAuth } from '../engine';
import type { FileSource, SyncCounters } from './fileSync';
import { sendDiffCopy } from './fileSync';
import type { GrpcCall, Handler, Metadata } from './grpc';
import { GrpcError, GrpcServer, GrpcStatus, unary } from './grpc';
import { HEALTH_SERVING, decodeCredentialsRequest, encodeCredentialsResponse } from './wire';

const DIFF_COPY = '/moby.filesync.v1.FileSync/DiffCopy';
const CREDENTIALS = '/moby.filesync.v1.Auth/Credentials';
const HEALTH = '/grpc.health.v1.Health/Check';

/** A folder offered to the build: its scanned entries (already .dockerignore-exact), in walk order. */
export interface SessionSource extends FileSource {
  entries: readonly ContextEntry[];
  /** The .dockerignore the scan applied: BuildKit's excludes, when they are the same lines, need no matching again. */
  ignore?: ContextScan['ignore'];
}

export interface BuildSessionOptions {
  /** `context` and `dockerfile`, as the Dockerfile frontend names them. */
  sources: Readonly<Record<string, SessionSource>>;
  /** Credentials by registry host, for BuildKit's pulls; an unknown host pulls anonymously. */
  credentials?: ReadonlyMap<string, RegistryAuth>;
  /** The context folder: it names the session and keys BuildKit's cache of earlier syncs. */
  contextDir: string;
}

export class BuildSession {
  readonly id = randomBytes(13).toString('hex').slice(0, 25);
  readonly counters: SyncCounters = { bytes: 0, files: 0 };
  private readonly server: GrpcServer;
  private readonly sharedKey: string;

  constructor(private readonly o: BuildSessionOptions) {
    // As the CLI's getBuildSharedKey: the same folder on the same machine finds its earlier sync, so BuildKit asks
    // only for what changed since.
    this.sharedKey = createHash('sha256').update(`${os.hostname()}:${o.contextDir}`).digest('hex');
    const handlers = new Map<string, Handler>([
      [DIFF_COPY, (call) => this.diffCopy(call)],
      [HEALTH, unary(async () => HEALTH_SERVING)],
      // Always served, as the CLI does: a registry with no credentials here gets an empty answer (anonymous pull).
      [CREDENTIALS, unary(async (request) => this.credentialsFor(request))],
    ]);
    this.server = new GrpcServer(handlers);
  }

  /** The headers of POST /session: who we are, and the methods the engine may call. */
  headers(): Record<string, string | string[]> {
    return {
      'X-Docker-Expose-Session-Uuid': this.id,
      'X-Docker-Expose-Session-Name': this.o.contextDir.split(/[\\/]/).filter(Boolean).pop() ?? 'context',
      'X-Docker-Expose-Session-Sharedkey': this.sharedKey,
      'X-Docker-Expose-Session-Grpc-Method': [DIFF_COPY, HEALTH, CREDENTIALS],
    };
  }

  /** Serves the session on the upgraded connection. */
  attach(socket: Duplex): void {
    this.server.attach(socket);
  }

  close(): void {
    this.server.close();
  }

  private async diffCopy(call: GrpcCall): Promise<void> {
    const opts = decodeOpts(call.metadata);
    const name = opts.get('dir-name')?.[0] ?? '';
    const source = this.o.sources[name];
    if (!source) throw new GrpcError(GrpcStatus.notFound, `no access allowed to dir "${name}"`);
    const filter: SourceFilter = {
      ...(opts.has('include-patterns') ? { includes: opts.get('include-patterns') } : {}),
      ...(opts.has('exclude-patterns') ? { excludes: opts.get('exclude-patterns') } : {}),
      ...(opts.has('followpaths') ? { followPaths: opts.get('followpaths') } : {}),
    };
    const entries = filter.includes || filter.excludes || filter.followPaths ? await filterEntries(source, filter) : source.entries;
    await sendDiffCopy(call, source, entries, this.counters);
  }

  private credentialsFor(request: Buffer): Buffer {
    const { host } = decodeCredentialsRequest(request);
    const auth = this.o.credentials?.get(host) ?? this.o.credentials?.get(host === 'registry-1.docker.io' ? 'docker.io' : host);
    if (!auth) return encodeCredentialsResponse(undefined);
    // An identity token goes as the secret with no username, as the CLI's session answers.
    return encodeCredentialsResponse(
      auth.identitytoken ? { username: '', secret: auth.identitytoken } : { username: auth.username ?? '', secret: auth.password ?? '' },
    );
  }
}

/** BuildKit's filesync decodeOpts: a `<key>-encoded: 1` header says the values are query-escaped (non-ASCII). */
function decodeOpts(md: Metadata): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [key, values] of md) {
    const encoded = md.get(`${key}-encoded`)?.[0];
    out.set(key, encoded === '1' || encoded === 'true' ? values.map((v) => decodeURIComponent(v.replace(/\+/g, ' '))) : values);
  }
  return out;
}
