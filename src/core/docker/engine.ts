// The only file that imports dockerode: everything else talks to the `Engine` interface below.
import type Dockerode from 'dockerode';
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import type { DockerEndpoint } from './endpoint';
import { isRecord } from '../json';
import type { ErrorHints } from './errors';
import { EngineError, toEngineError } from './errors';
import { familiarName, tryParseReference } from '../reference';

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
  /** `repo@sha256:…` per registry the image was pushed to or pulled from; empty for an image built here only. */
  repoDigests: string[];
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
  /**
   * Credentials for the registries the build pulls from, by host. BuildKit takes at most one: its session answers
   * every registry with the same credentials (see core/build/pulledImages.ts).
   */
  registryAuth?: { host: string; auth: RegistryAuth }[];
}

/** Docker Engine API HostConfig fields ML Containers sets (PascalCase, as the API takes them). */
export interface ContainerHostConfig {
  Binds?: string[];
  PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
  DeviceRequests?: { Driver: string; Count?: number; DeviceIDs?: string[]; Capabilities?: string[][] }[];
  Devices?: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[];
  ShmSize?: number;
  Ulimits?: { Name: string; Soft: number; Hard: number }[];
  Init?: boolean;
}

/** POST /containers/create, as the API takes it. */
export interface ContainerCreateRequest {
  name?: string;
  Image: string;
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  Labels?: Record<string, string>;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  HostConfig?: ContainerHostConfig;
}

export interface ContainerSummary {
  id: string;
  names: string[];
  image: string;
  imageId: string;
  labels: Record<string, string>;
  /** running, exited, created, … */
  state: string;
  status: string;
  created: number;
  /** Published ports, as /containers/json lists them (no inspect needed). */
  ports: { privatePort: number; publicPort?: number; ip?: string; type: string }[];
}

/** One line of GET /events. */
export interface EngineEvent {
  type: string;
  action: string;
  /** Image or container id (images: often the reference). */
  id: string;
  /** Seconds since the epoch. */
  time: number;
  attributes: Record<string, string>;
}

export interface PortBinding {
  hostIp: string;
  hostPort: string;
}

export interface ContainerDetails {
  id: string;
  name: string;
  imageId: string;
  labels: Record<string, string>;
  env: string[];
  running: boolean;
  status: string;
  exitCode: number;
  startedAt: string;
  /** "8888/tcp" → where it is published. */
  ports: Record<string, PortBinding[]>;
  deviceRequests: number;
}

/** A tar stream of the build context: a Node stream, or a streamx one as tar-fs 3 returns. */
export type TarStream = NodeJS.ReadableStream | { pipe(destination: NodeJS.WritableStream): unknown };

/** One raw line of the engine's build stream; decoding BuildKit traces is the caller's business. */
export type BuildEvent = Record<string, unknown>;

/** One raw line of the engine's push stream. */
export type PushEvent = Record<string, unknown>;

/**
 * The X-Registry-Auth body, as the engine takes it. `{}` pushes anonymously. Holds secrets: never log it or put it
 * in a message.
 */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** An OAuth refresh token (a credential helper's `<token>` user, or `identitytoken` in config.json). */
  identitytoken?: string;
  serveraddress?: string;
}

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
  createContainer(request: ContainerCreateRequest, signal?: AbortSignal): Promise<string>;
  startContainer(id: string, signal?: AbortSignal): Promise<void>;
  restartContainer(id: string, signal?: AbortSignal): Promise<void>;
  /** Stops with SIGTERM, then SIGKILL after timeoutSeconds; a stopped container is fine. */
  stopContainer(id: string, timeoutSeconds?: number, signal?: AbortSignal): Promise<void>;
  removeContainer(id: string, options?: { force?: boolean }, signal?: AbortSignal): Promise<void>;
  /** undefined when no such container exists. */
  inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerDetails | undefined>;
  listContainers(filter: { labels?: string[]; all?: boolean }, signal?: AbortSignal): Promise<ContainerSummary[]>;
  /** The last `tail` lines of stdout and stderr, interleaved. */
  containerLogs(id: string, tail: number, signal?: AbortSignal): Promise<string>;
  /**
   * Streams a (non-TTY) container's output from its start until it exits — then it resolves — or the signal aborts.
   * Call it after start: the engine replays what was written before the call.
   */
  followLogs(id: string, onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void, signal?: AbortSignal): Promise<void>;
  /** Waits until the container exits and resolves with its exit code. */
  waitContainer(id: string, signal?: AbortSignal): Promise<number>;
  tagImage(ref: string, repo: string, tag: string, signal?: AbortSignal): Promise<void>;
  /**
   * Pushes one tag (`host/name:tag`; an untagged reference is refused, since the engine would push every tag of the
   * repository) and resolves with the manifest digest the registry stored. Registry failures arrive inside the
   * stream and reject with an EngineError (reason `unauthorized` when the registry wants other credentials).
   */
  pushImage(ref: string, auth: RegistryAuth | undefined, onProgress?: (event: PushEvent) => void, signal?: AbortSignal): Promise<string>;
  /**
   * Streams /events (from `since`, in seconds, when given) until the signal aborts — then it resolves — or the
   * connection drops — then it rejects, so the caller can reconnect with `since`.
   */
  events(filter: { since?: number; types?: string[] }, onEvent: (event: EngineEvent) => void, signal?: AbortSignal): Promise<void>;
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
        repoDigests: Array.isArray(img.RepoDigests) ? img.RepoDigests.map(str).filter((d) => /@sha256:[0-9a-f]{64}$/.test(d)) : [],
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
        ...buildAuthOptions(request),
        rm: true,
        forcerm: true,
        abortSignal: signal,
      }),
    );
    const events: BuildEvent[] = [];
    let imageId = '';
    await this.follow(stream as NodeJS.ReadableStream, 'Build', (event) => {
      events.push(event);
      if (events.length > 2000) {
        events.splice(0, events.length - 1000);
      }
      // BuildKit sends {id: 'moby.image.id', aux: {ID}}, the classic builder {aux: {ID}}.
      if (isRecord(event.aux) && typeof event.aux.ID === 'string') {
        imageId = event.aux.ID;
      }
      onEvent?.(event);
    }, signal);
    const failure = events.map(streamError).find((e) => e !== undefined);
    if (failure !== undefined) {
      throw new BuildError(failure || 'The build failed.', events);
    }
    if (!imageId) {
      throw new BuildError('The engine finished the build without reporting an image id.', events);
    }
    return imageId;
  }

  async createContainer(request: ContainerCreateRequest, signal?: AbortSignal): Promise<string> {
    const container = await this.call((d) => d.createContainer({ ...request, abortSignal: signal } as Dockerode.ContainerCreateOptions));
    return container.id;
  }

  async startContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.call((d) => d.getContainer(id).start({ abortSignal: signal }));
  }

  async restartContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.call((d) => d.getContainer(id).restart({ abortSignal: signal }));
  }

  async stopContainer(id: string, timeoutSeconds = 10, signal?: AbortSignal): Promise<void> {
    try {
      await this.call((d) => d.getContainer(id).stop({ t: timeoutSeconds, abortSignal: signal }));
    } catch (e) {
      // 304: already stopped.
      if (!(e instanceof EngineError && e.statusCode === 304)) throw e;
    }
  }

  async removeContainer(id: string, options: { force?: boolean } = {}, signal?: AbortSignal): Promise<void> {
    await this.call((d) => d.getContainer(id).remove({ force: options.force ?? false, v: true, abortSignal: signal }));
  }

  async inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerDetails | undefined> {
    try {
      const raw: unknown = await this.call((d) => d.getContainer(id).inspect({ abortSignal: signal } as Dockerode.ContainerInspectOptions));
      const c = record(raw, 'container');
      const config = isRecord(c.Config) ? c.Config : {};
      const state = isRecord(c.State) ? c.State : {};
      const network = isRecord(c.NetworkSettings) ? c.NetworkSettings : {};
      const hostConfig = isRecord(c.HostConfig) ? c.HostConfig : {};
      const ports: Record<string, PortBinding[]> = {};
      if (isRecord(network.Ports)) {
        for (const [port, bindings] of Object.entries(network.Ports)) {
          ports[port] = Array.isArray(bindings) ? bindings.filter(isRecord).map((b) => ({ hostIp: str(b.HostIp), hostPort: str(b.HostPort) })) : [];
        }
      }
      return {
        id: str(c.Id),
        name: str(c.Name).replace(/^\//, ''),
        imageId: str(c.Image),
        labels: stringMap(config.Labels),
        env: Array.isArray(config.Env) ? config.Env.map(str) : [],
        running: state.Running === true,
        status: str(state.Status),
        exitCode: num(state.ExitCode),
        startedAt: str(state.StartedAt),
        ports,
        deviceRequests: Array.isArray(hostConfig.DeviceRequests) ? hostConfig.DeviceRequests.length : 0,
      };
    } catch (e) {
      if (e instanceof EngineError && e.reason === 'notFound') return undefined;
      throw e;
    }
  }

  async listContainers(filter: { labels?: string[]; all?: boolean }, signal?: AbortSignal): Promise<ContainerSummary[]> {
    const filters: Record<string, string[]> = {};
    if (filter.labels?.length) filters.label = filter.labels;
    const raw: unknown = await this.call((d) => d.listContainers({ all: filter.all ?? false, filters, abortSignal: signal } as Dockerode.ContainerListOptions));
    if (!Array.isArray(raw)) {
      throw new EngineError(`Docker engine at ${this.endpoint.host} sent an unexpected container list.`, 'api');
    }
    return raw.filter(isRecord).map((c) => ({
      id: str(c.Id),
      names: Array.isArray(c.Names) ? c.Names.map((n) => str(n).replace(/^\//, '')) : [],
      image: str(c.Image),
      imageId: str(c.ImageID),
      labels: stringMap(c.Labels),
      state: str(c.State),
      status: str(c.Status),
      created: num(c.Created),
      ports: Array.isArray(c.Ports)
        ? c.Ports.filter(isRecord).map((p) => ({
            privatePort: num(p.PrivatePort),
            ...(typeof p.PublicPort === 'number' ? { publicPort: p.PublicPort } : {}),
            ...(typeof p.IP === 'string' ? { ip: p.IP } : {}),
            type: str(p.Type),
          }))
        : [],
    }));
  }

  async tagImage(ref: string, repo: string, tag: string, signal?: AbortSignal): Promise<void> {
    await this.call((d) => d.getImage(ref).tag({ repo, tag, abortSignal: signal } as Dockerode.ImageTagOptions));
  }

  async pushImage(ref: string, auth: RegistryAuth | undefined, onProgress?: (event: PushEvent) => void, signal?: AbortSignal): Promise<string> {
    const { repository, tag } = splitTaggedReference(ref);
    // The engine answers 400 "missing X-Registry-Auth" without the header: an anonymous push sends `{}`.
    const stream = (await this.call((d) =>
      d.getImage(repository).push({ tag, authconfig: auth ?? {}, abortSignal: signal } as Dockerode.ImagePushOptions),
    )) as NodeJS.ReadableStream;
    let digest = '';
    let failure = '';
    await this.follow(stream, 'Push', (event) => {
      const error = streamError(event);
      if (error !== undefined) failure ||= error || 'the push failed';
      if (isRecord(event.aux) && typeof event.aux.Digest === 'string') {
        digest = event.aux.Digest;
      }
      // Engines without the aux line still print "<tag>: digest: sha256:… size: N".
      const status = /\bdigest: (sha256:[0-9a-f]{64})\b/.exec(str(event.status));
      if (!digest && status) digest = status[1]!;
      onProgress?.(event);
    }, signal);
    if (failure) {
      const unauthorized = /unauthori[sz]ed|authentication required|no basic auth credentials|denied|insufficient_scope|incorrect username or password/i.test(failure);
      throw new EngineError(`Pushing ${ref} failed: ${failure}`, unauthorized ? 'unauthorized' : 'api');
    }
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
      throw new EngineError(`Docker engine at ${this.endpoint.host} finished pushing ${ref} without reporting the manifest digest.`, 'api');
    }
    return digest;
  }

  async events(filter: { since?: number; types?: string[] }, onEvent: (event: EngineEvent) => void, signal?: AbortSignal): Promise<void> {
    const filters: Record<string, string[]> = filter.types?.length ? { type: filter.types } : {};
    const stream = (await this.call((d) =>
      d.getEvents({ ...(filter.since !== undefined ? { since: filter.since } : {}), filters, abortSignal: signal } as Dockerode.GetEventsOptions),
    )) as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      const onAbort = (): void => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (!line) continue;
          try {
            const raw: unknown = JSON.parse(line);
            if (!isRecord(raw)) continue;
            const actor = isRecord(raw.Actor) ? raw.Actor : {};
            onEvent({
              type: str(raw.Type),
              action: str(raw.Action),
              id: str(actor.ID ?? raw.id),
              time: num(raw.time),
              attributes: stringMap(actor.Attributes),
            });
          } catch {
            // A malformed line is skipped; the next refresh lists the truth anyway.
          }
        }
      });
      const ended = (error?: Error): void => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) return resolve();
        reject(error ? toEngineError(error, this.endpoint) : new EngineError(`The event stream from ${this.endpoint.host} ended.`, 'unreachable'));
      };
      stream.on('error', ended);
      stream.on('end', () => ended());
      stream.on('close', () => ended());
    });
  }

  async containerLogs(id: string, tail: number, signal?: AbortSignal): Promise<string> {
    const raw: unknown = await this.call((d) =>
      d.getContainer(id).logs({ stdout: true, stderr: true, follow: false, tail, abortSignal: signal } as Dockerode.ContainerLogsOptions & { follow: false }),
    );
    const buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw));
    return demuxLogs(buffer);
  }

  async followLogs(id: string, onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void, signal?: AbortSignal): Promise<void> {
    const stream = (await this.call((d) =>
      d.getContainer(id).logs({ stdout: true, stderr: true, follow: true, abortSignal: signal } as Dockerode.ContainerLogsOptions & { follow: true }),
    )) as NodeJS.ReadableStream;
    const sink = (name: 'stdout' | 'stderr'): Writable => new Writable({ write: (chunk: Buffer, _enc, done) => (onOutput(chunk, name), done()) });
    this.dockerode().modem.demuxStream(stream, sink('stdout'), sink('stderr'));
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (error?: Error): void => {
        signal?.removeEventListener('abort', onAbort);
        if (error && !signal?.aborted) reject(toEngineError(error, this.endpoint));
        else resolve();
      };
      stream.on('end', () => done());
      stream.on('close', () => done());
      stream.on('error', done);
    });
  }

  async waitContainer(id: string, signal?: AbortSignal): Promise<number> {
    const raw: unknown = await this.call((d) => d.getContainer(id).wait({ abortSignal: signal } as Dockerode.ContainerWaitOptions));
    const result = record(raw, 'wait');
    if (isRecord(result.Error) && result.Error.Message) {
      throw new EngineError(`Waiting for container ${id.slice(0, 12)} failed: ${str(result.Error.Message)}`, 'api');
    }
    return num(result.StatusCode);
  }

  /** Follows a JSON progress stream (build, push) to its end; an abort destroys it and rejects as cancelled. */
  private follow(stream: NodeJS.ReadableStream, what: string, onEvent: (event: Record<string, unknown>) => void, signal?: AbortSignal): Promise<void> {
    const client = this.dockerode();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        reject(new EngineError(`${what} cancelled.`, 'cancelled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      client.modem.followProgress(
        stream,
        (err: Error | null) => {
          signal?.removeEventListener('abort', onAbort);
          if (signal?.aborted) return;
          if (err) return reject(toEngineError(err, this.endpoint));
          resolve();
        },
        (event: unknown) => {
          if (isRecord(event)) onEvent(event);
        },
      );
    });
  }

  private dockerode(): Dockerode {
    this.client ??= new (loadDockerode())(dockerodeOptions(this.endpoint, this.options.timeoutMs));
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
 * dockerode is required on first use, not at import: with its BuildKit session code (gRPC, ssh2, protobufjs) it
 * took ~120 ms to load, most of the extension's activation (bench/: activation). The bundles get it from
 * dist/dockerode.js (esbuild.mjs), which is compiled only then.
 */
function loadDockerode(): typeof Dockerode {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('dockerode') as typeof Dockerode;
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

/**
 * A container without a TTY sends logs multiplexed: 8-byte frames (stream, 0, 0, 0, big-endian length) before each
 * chunk. Anything that does not parse as frames is returned as text (TTY containers send it raw).
 */
export function demuxLogs(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset];
    const size = buffer.readUInt32BE(offset + 4);
    if ((stream !== 0 && stream !== 1 && stream !== 2) || buffer[offset + 1] !== 0 || offset + 8 + size > buffer.length) {
      return buffer.toString('utf8');
    }
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return offset === buffer.length ? Buffer.concat(parts).toString('utf8') : buffer.toString('utf8');
}

/** `host/name:tag` → its repository and tag; a digest or no tag is refused (see Engine.pushImage). */
export function splitTaggedReference(ref: string): { repository: string; tag: string } {
  const parsed = tryParseReference(ref);
  if (!parsed?.tag || parsed.digest) {
    throw new EngineError(`Cannot push ${ref}: name one tag (host/name:tag), or the engine pushes every tag of the repository.`, 'api');
  }
  return { repository: familiarName(parsed), tag: parsed.tag };
}

/**
 * Registry credentials as dockerode sends them: for BuildKit, the one `authconfig` its session answers with (an
 * identity token goes as the secret with no username, as the docker CLI's session does); for the classic builder,
 * X-Registry-Config, keyed by registry.
 */
function buildAuthOptions(request: BuildRequest): Pick<Dockerode.ImageBuildOptions, 'authconfig' | 'registryconfig'> {
  const entries = request.registryAuth ?? [];
  if (!entries.length) return {};
  if (request.buildKit) {
    if (entries.length > 1) throw new Error('BuildKit builds take credentials for one registry only');
    const { auth } = entries[0]!;
    return { authconfig: auth.identitytoken ? { username: '', password: auth.identitytoken } : { username: auth.username ?? '', password: auth.password ?? '' } };
  }
  // The engine also takes identitytoken here; @types/dockerode declares only username and password.
  return { registryconfig: Object.fromEntries(entries.map((e) => [e.auth.serveraddress ?? e.host, e.auth])) as Dockerode.RegistryConfig };
}

/** A progress line's error message ('' when it has one without text); undefined when the line is no error. */
function streamError(event: Record<string, unknown>): string | undefined {
  if (event.error === undefined && event.errorDetail === undefined) return undefined;
  return (isRecord(event.errorDetail) ? str(event.errorDetail.message) : '') || str(event.error);
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
