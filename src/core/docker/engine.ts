// The only file that imports dockerode: everything else talks to the `Engine` interface below.
import Dockerode from 'dockerode';
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import type { DockerEndpoint } from './endpoint';
import { isRecord } from '../json';
import type { ErrorHints } from './errors';
import { EngineError, toEngineError } from './errors';

export interface EngineVersion {
  version: string;
  apiVersion: string;
  minApiVersion?: string;
  os: string;
  arch: string;
  kernelVersion?: string;
  platformName?: string;
  components: string[];
  isPodman: boolean;
}

export interface DiscoveredDevice {
  source: string;
  id: string;
}

export interface EngineInfo {
  name: string;
  serverVersion: string;
  storageDriver: string;
  operatingSystem: string;
  osType: string;
  architecture: string;
  cpus: number;
  memTotal: number;
  cgroupVersion?: string;
  defaultRuntime?: string;
  runtimes: string[];
  cdiSpecDirs: string[];
  discoveredDevices: DiscoveredDevice[];
  rootless: boolean;
}

export interface ImageSummary {
  id: string;
  repoTags: string[];
  labels: Record<string, string>;
  created: number;
  size: number;
}

export interface ImageDetails {
  id: string;
  repoTags: string[];
  labels: Record<string, string>;
  env: string[];
  created: string;
  size: number;
}

export interface BuildRequest {
  tags: string[];
  labels?: Record<string, string>;
  buildArgs?: Record<string, string>;
  dockerfile?: string;
  target?: string;
  /** BuildKit (Engine API `version=2`) rather than the classic builder. */
  buildKit: boolean;
  noCache?: boolean;
}

/** A tar stream of the build context: a Node stream, or a streamx one as tar-fs 3 returns. */
export type TarStream = NodeJS.ReadableStream | { pipe(destination: NodeJS.WritableStream): unknown };

/** One raw line of the engine's build stream; decoding BuildKit traces is the caller's business. */
export type BuildEvent = Record<string, unknown>;

export class BuildError extends Error {
  constructor(message: string, readonly events: BuildEvent[]) {
    super(message);
    this.name = 'BuildError';
  }
}

/** The Docker Engine API as ML Containers uses it. Every method takes an AbortSignal for cancellation. */
export interface Engine {
  readonly endpoint: DockerEndpoint;
  ping(signal?: AbortSignal): Promise<void>;
  version(signal?: AbortSignal): Promise<EngineVersion>;
  info(signal?: AbortSignal): Promise<EngineInfo>;
  listImages(filter: { labels?: string[]; reference?: string }, signal?: AbortSignal): Promise<ImageSummary[]>;
  /** undefined when no such image exists. */
  inspectImage(ref: string, signal?: AbortSignal): Promise<ImageDetails | undefined>;
  removeImage(ref: string, options?: { force?: boolean }, signal?: AbortSignal): Promise<void>;
  /**
   * Runs a command in a throw-away container (no network, removed afterwards) and captures its output.
   * For short inspections such as `pip freeze`, not for user workloads.
   */
  runCapture(image: string, command: string[], signal?: AbortSignal): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Builds from a tar stream; resolves with the new image id. */
  build(context: TarStream, request: BuildRequest, onEvent?: (event: BuildEvent) => void, signal?: AbortSignal): Promise<string>;
}

export interface EngineOptions {
  /** Per-request socket inactivity timeout; builds and streams pass their own signals instead. */
  timeoutMs?: number;
  hints?: () => ErrorHints;
}

export function createEngine(endpoint: DockerEndpoint, options: EngineOptions = {}): Engine {
  return new DockerodeEngine(endpoint, options);
}

class DockerodeEngine implements Engine {
  private client: Dockerode | undefined;

  constructor(readonly endpoint: DockerEndpoint, private readonly options: EngineOptions) {}

  async ping(signal?: AbortSignal): Promise<void> {
    await this.call((d) => withSignal(d.ping.bind(d), signal));
  }

  async version(signal?: AbortSignal): Promise<EngineVersion> {
    const raw: unknown = await this.call((d) => withSignal(d.version.bind(d), signal));
    const v = record(raw, 'version');
    const components = Array.isArray(v.Components) ? v.Components.filter(isRecord).map((c) => str(c.Name)) : [];
    const platformName = isRecord(v.Platform) ? str(v.Platform.Name) : '';
    return {
      version: str(v.Version),
      apiVersion: str(v.ApiVersion),
      ...(v.MinAPIVersion ? { minApiVersion: str(v.MinAPIVersion) } : {}),
      os: str(v.Os),
      arch: str(v.Arch),
      ...(v.KernelVersion ? { kernelVersion: str(v.KernelVersion) } : {}),
      ...(platformName ? { platformName } : {}),
      components,
      isPodman: components.some((c) => /podman/i.test(c)) || /podman/i.test(platformName),
    };
  }

  async info(signal?: AbortSignal): Promise<EngineInfo> {
    const raw: unknown = await this.call((d) => withSignal(d.info.bind(d), signal));
    const i = record(raw, 'info');
    const securityOptions = Array.isArray(i.SecurityOptions) ? i.SecurityOptions.map(str) : [];
    return {
      name: str(i.Name),
      serverVersion: str(i.ServerVersion),
      storageDriver: str(i.Driver),
      operatingSystem: str(i.OperatingSystem),
      osType: str(i.OSType),
      architecture: str(i.Architecture),
      cpus: num(i.NCPU),
      memTotal: num(i.MemTotal),
      ...(i.CgroupVersion ? { cgroupVersion: str(i.CgroupVersion) } : {}),
      ...(i.DefaultRuntime ? { defaultRuntime: str(i.DefaultRuntime) } : {}),
      runtimes: isRecord(i.Runtimes) ? Object.keys(i.Runtimes).sort() : [],
      cdiSpecDirs: Array.isArray(i.CDISpecDirs) ? i.CDISpecDirs.map(str) : [],
      discoveredDevices: Array.isArray(i.DiscoveredDevices)
        ? i.DiscoveredDevices.filter(isRecord).map((d) => ({ source: str(d.Source), id: str(d.ID) }))
        : [],
      rootless: securityOptions.some((o) => o.includes('rootless')),
    };
  }

  async listImages(filter: { labels?: string[]; reference?: string }, signal?: AbortSignal): Promise<ImageSummary[]> {
    const filters: Record<string, string[]> = {};
    if (filter.labels?.length) {
      filters.label = filter.labels;
    }
    if (filter.reference) {
      filters.reference = [filter.reference];
    }
    const raw: unknown = await this.call((d) => d.listImages({ filters, abortSignal: signal }));
    if (!Array.isArray(raw)) {
      throw new EngineError(`Docker engine at ${this.endpoint.host} sent an unexpected image list.`, 'api');
    }
    return raw.filter(isRecord).map((img) => ({
      id: str(img.Id),
      repoTags: Array.isArray(img.RepoTags) ? img.RepoTags.map(str).filter((t) => t !== '<none>:<none>') : [],
      labels: stringMap(img.Labels),
      created: num(img.Created),
      size: num(img.Size),
    }));
  }

  async inspectImage(ref: string, signal?: AbortSignal): Promise<ImageDetails | undefined> {
    try {
      const raw: unknown = await this.call((d) => withSignal(d.getImage(ref).inspect.bind(d.getImage(ref)), signal));
      const img = record(raw, 'image');
      const config = isRecord(img.Config) ? img.Config : {};
      return {
        id: str(img.Id),
        repoTags: Array.isArray(img.RepoTags) ? img.RepoTags.map(str) : [],
        labels: stringMap(config.Labels),
        env: Array.isArray(config.Env) ? config.Env.map(str) : [],
        created: str(img.Created),
        size: num(img.Size),
      };
    } catch (e) {
      if (e instanceof EngineError && e.reason === 'notFound') {
        return undefined;
      }
      throw e;
    }
  }

  async removeImage(ref: string, options: { force?: boolean } = {}, signal?: AbortSignal): Promise<void> {
    await this.call((d) => d.getImage(ref).remove({ force: options.force ?? false, abortSignal: signal }));
  }

  async runCapture(image: string, command: string[], signal?: AbortSignal): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const sink = (into: Buffer[]): Writable => new Writable({ write: (chunk: Buffer, _enc, done) => (into.push(chunk), done()) });
    const [result, container] = (await this.call((d) =>
      d.run(image, command, [sink(chunks.stdout), sink(chunks.stderr)], {
        Entrypoint: [],
        Tty: false,
        HostConfig: { NetworkMode: 'none' },
        abortSignal: signal,
      }),
    )) as [{ StatusCode?: number }, Dockerode.Container];
    await container.remove({ force: true }).catch(() => undefined);
    return { exitCode: result.StatusCode ?? -1, stdout: Buffer.concat(chunks.stdout).toString('utf8'), stderr: Buffer.concat(chunks.stderr).toString('utf8') };
  }

  async build(context: TarStream, request: BuildRequest, onEvent?: (event: BuildEvent) => void, signal?: AbortSignal): Promise<string> {
    const stream = await this.call((d) =>
      d.buildImage(context as NodeJS.ReadableStream, {
        // The engine takes `t` once per tag; docker-modem repeats array values in the query string.
        t: request.tags as unknown as string,
        ...(request.labels ? { labels: request.labels } : {}),
        ...(request.buildArgs ? { buildargs: request.buildArgs } : {}),
        ...(request.dockerfile ? { dockerfile: request.dockerfile } : {}),
        ...(request.target ? { target: request.target } : {}),
        ...(request.noCache ? { nocache: true } : {}),
        ...(request.buildKit ? { version: '2' as const } : {}),
        rm: true,
        forcerm: true,
        abortSignal: signal,
      }),
    );
    const client = this.dockerode();
    const events: BuildEvent[] = [];
    let imageId = '';
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        reject(new EngineError('Build cancelled.', 'cancelled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      client.modem.followProgress(
        stream,
        (err: Error | null) => {
          signal?.removeEventListener('abort', onAbort);
          if (signal?.aborted) {
            return;
          }
          if (err) {
            reject(toEngineError(err, this.endpoint));
            return;
          }
          resolve();
        },
        (event: unknown) => {
          if (!isRecord(event)) {
            return;
          }
          events.push(event);
          if (events.length > 2000) {
            events.splice(0, events.length - 1000);
          }
          // BuildKit sends {id: 'moby.image.id', aux: {ID}}, the classic builder {aux: {ID}}.
          if (isRecord(event.aux) && typeof event.aux.ID === 'string') {
            imageId = event.aux.ID;
          }
          onEvent?.(event);
        },
      );
    });
    const failure = events.find((e) => e.error !== undefined || e.errorDetail !== undefined);
    if (failure) {
      const detail = isRecord(failure.errorDetail) ? str(failure.errorDetail.message) : '';
      throw new BuildError(detail || str(failure.error) || 'The build failed.', events);
    }
    if (!imageId) {
      throw new BuildError('The engine finished the build without reporting an image id.', events);
    }
    return imageId;
  }

  private dockerode(): Dockerode {
    this.client ??= new Dockerode(dockerodeOptions(this.endpoint, this.options.timeoutMs));
    return this.client;
  }

  private async call<T>(fn: (d: Dockerode) => Promise<T>): Promise<T> {
    try {
      return await fn(this.dockerode());
    } catch (e) {
      throw toEngineError(e, this.endpoint, this.options.hints?.() ?? {});
    }
  }
}

/**
 * Every connection key is set explicitly: docker-modem merges its own DOCKER_HOST defaults under ours, and a
 * missing key would let the environment win over the endpoint we resolved.
 */
function dockerodeOptions(endpoint: DockerEndpoint, timeoutMs: number | undefined): Dockerode.DockerOptions {
  const base: Dockerode.DockerOptions = {
    host: undefined,
    port: undefined,
    socketPath: undefined,
    protocol: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    ...(timeoutMs ? { timeout: timeoutMs } : {}),
  };
  switch (endpoint.protocol) {
    case 'unix':
    case 'npipe':
      return { ...base, socketPath: endpoint.socketPath };
    case 'ssh':
      return {
        ...base,
        protocol: 'ssh',
        host: endpoint.hostname,
        port: endpoint.port,
        username: endpoint.username,
        sshOptions: { agent: process.env.SSH_AUTH_SOCK },
      };
    case 'tcp': {
      if (!endpoint.tls) {
        return { ...base, protocol: 'http', host: endpoint.hostname, port: endpoint.port };
      }
      const read = (file: string | undefined): Buffer | undefined => {
        if (!file) {
          return undefined;
        }
        try {
          return fs.readFileSync(file);
        } catch {
          throw new EngineError(`TLS file ${file} is missing or unreadable: set DOCKER_CERT_PATH to the folder holding ca.pem, cert.pem and key.pem.`, 'tls');
        }
      };
      const options: Dockerode.DockerOptions & { checkServerIdentity?: () => undefined } = {
        ...base,
        protocol: 'https',
        host: endpoint.hostname,
        port: endpoint.port,
        ca: read(endpoint.tls.caFile),
        cert: read(endpoint.tls.certFile),
        key: read(endpoint.tls.keyFile),
      };
      if (!endpoint.tls.verify) {
        options.checkServerIdentity = () => undefined;
      }
      return options;
    }
  }
}

/** dockerode accepts `{abortSignal}` on these calls at run time; @types/dockerode does not declare it. */
function withSignal(method: unknown, signal: AbortSignal | undefined): Promise<unknown> {
  return (method as (options: { abortSignal?: AbortSignal }) => Promise<unknown>)({ abortSignal: signal });
}

function record(raw: unknown, what: string): Record<string, unknown> {
  if (!isRecord(raw)) {
    throw new EngineError(`The Docker engine sent an unexpected ${what} response.`, 'api');
  }
  return raw;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isRecord(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string') {
        out[k] = v;
      }
    }
  }
  return out;
}
