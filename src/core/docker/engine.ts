// The Docker Engine API as ML Containers uses it: the interface every consumer and test fake talks to. The dockerode
// adapter behind it lives in ./dockerode/.
import type { Duplex } from 'node:stream';
import type { DockerEndpoint } from './endpoint';

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

/**
 * What GET /_ping's headers say, as the docker CLI reads them before a build: enough to choose the builder and the
 * context transport without /version and /info (each a few times slower to answer than /_ping).
 */
export interface EnginePing {
  apiVersion: string;
  /** `Ostype`: linux or windows; Podman sends none, and runs Linux containers. */
  osType: string;
  /** Podman's compat API sends `Libpod-Api-Version`. */
  isPodman: boolean;
  /** The release the `Server` header names (`Docker/20.10.24+dfsg1 (linux)`, `Libpod/4.3.1 (linux)`); '' if none. */
  version: string;
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
  /** Config.User: the image's USER ('' or absent: root). */
  user?: string;
  /** Config.Entrypoint and Config.Cmd, for runtimes that run the command without the engine (Charliecloud). */
  entrypoint?: string[];
  cmd?: string[];
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
   * Credentials for the registries the build pulls from, by host. A BuildKit build with a tar takes at most one
   * (dockerode's session answers every registry with it); with `session`, that session answers instead.
   */
  registryAuth?: { host: string; auth: RegistryAuth }[];
  /**
   * A BuildKit session (openSession) that serves the context and the Dockerfile as the local sources `context` and
   * `dockerfile`, as `docker build` does (`remote=client-session`): no tar is sent.
   */
  session?: string;
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
  Mounts?: { Type: 'bind' | 'volume' | 'tmpfs'; Source: string; Target: string; ReadOnly?: boolean }[];
  CapAdd?: string[];
  SecurityOpt?: string[];
  Privileged?: boolean;
  IpcMode?: string;
  NetworkMode?: string;
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
  /** When it last exited (ISO 8601); absent while it has never exited. */
  finishedAt?: string;
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
  constructor(
    message: string,
    readonly events: BuildEvent[],
  ) {
    super(message);
    this.name = 'BuildError';
  }
}

/** The Docker Engine API as ML Containers uses it. Every method takes an AbortSignal for cancellation. */
export interface Engine {
  readonly endpoint: DockerEndpoint;
  ping(signal?: AbortSignal): Promise<EnginePing>;
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
  /** Builds from a tar stream, or from a session's sources (request.session, no tar); resolves with the new image id. */
  build(
    context: TarStream | undefined,
    request: BuildRequest,
    onEvent?: (event: BuildEvent) => void,
    signal?: AbortSignal,
  ): Promise<string>;
  /**
   * POST /session, upgraded to HTTP/2 (h2c): resolves with the connection, on which the engine is the HTTP/2 client
   * calling the gRPC methods the headers expose. Rejects with an EngineError (reason `notFound` or `api`, with the
   * status code) where the engine has no such endpoint (Podman: 404).
   */
  openSession(headers: Record<string, string | string[]>, signal?: AbortSignal): Promise<Duplex>;
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
  containerLogs(id: string, tail: number | 'all', signal?: AbortSignal): Promise<string>;
  /**
   * Streams a (non-TTY) container's output from its start until it exits — then it resolves — or the signal aborts.
   * Call it after start: the engine replays what was written before the call.
   */
  followLogs(id: string, onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void, signal?: AbortSignal): Promise<void>;
  /** Waits until the container exits and resolves with its exit code. */
  waitContainer(id: string, signal?: AbortSignal): Promise<number>;
  /** Runs a command in a running container (`docker exec`, no TTY) and resolves with its exit code and output. */
  execCapture(id: string, command: string[], signal?: AbortSignal): Promise<{ exitCode: number; stdout: string; stderr: string }>;
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
