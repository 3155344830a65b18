// The only file that imports dockerode: the other adapter files reach the client through the aliases below, and
// everything outside this folder talks to the `Engine` interface (../engine.ts).
import type Dockerode from 'dockerode';
import type { DockerEndpoint } from '../endpoint';
import { endpointOptions } from '../endpointOptions';
import type { ErrorHints } from '../errors';
import { toEngineError } from '../errors';

export type DockerClient = Dockerode;

export interface EngineOptions {
  /** Per-request socket inactivity timeout; builds and streams pass their own signals instead. */
  timeoutMs?: number;
  hints?: () => ErrorHints;
}

/** One endpoint's dockerode client, created on first use; every adapter call goes through `call`. */
export class DockerConnection {
  private client: Dockerode | undefined;
  /** Whether the engine is Podman, asked once (see system.ts isPodman). */
  podman: Promise<boolean> | undefined;

  constructor(
    readonly endpoint: DockerEndpoint,
    private readonly options: EngineOptions,
  ) {}

  dockerode(): DockerClient {
    this.client ??= new (loadDockerode())(endpointOptions(this.endpoint, this.options.timeoutMs));
    return this.client;
  }

  /** Runs one dockerode call; its failure becomes an EngineError that says what to do next. */
  async call<T>(fn: (d: DockerClient) => Promise<T>): Promise<T> {
    try {
      return await fn(this.dockerode());
    } catch (e) {
      throw toEngineError(e, this.endpoint, this.options.hints?.() ?? {});
    }
  }
}

/**
 * dockerode is required on first use, not at import: with its BuildKit session code (gRPC, ssh2, protobufjs) it
 * took ~120 ms to load, most of the extension's activation (bench/: activation). The bundles get it from
 * dist/dockerode.js (esbuild.mjs), which is compiled only then.
 */
function loadDockerode(): typeof Dockerode {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('dockerode') as typeof Dockerode;
}

/** dockerode accepts `{abortSignal}` on these calls at run time; @types/dockerode does not declare it. */
export function withSignal(method: unknown, signal: AbortSignal | undefined): Promise<unknown> {
  return (method as (options: { abortSignal?: AbortSignal }) => Promise<unknown>)({ abortSignal: signal });
}
