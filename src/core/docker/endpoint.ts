import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { isRecord } from '../json';

export type EndpointSource = 'setting' | 'DOCKER_HOST' | 'DOCKER_CONTEXT' | 'context' | 'default';

export interface TlsMaterial {
  /** Paths, never contents: the endpoint is logged and shown. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  verify: boolean;
}

/** Where the Docker engine is, resolved the way the docker CLI resolves it. */
export interface DockerEndpoint {
  /** Normalised address, safe to show: credentials are never part of it. */
  readonly host: string;
  readonly protocol: 'unix' | 'npipe' | 'tcp' | 'ssh';
  readonly socketPath?: string;
  readonly hostname?: string;
  readonly port?: number;
  readonly username?: string;
  readonly tls?: TlsMaterial;
  readonly source: EndpointSource;
  readonly contextName?: string;
}

/** What resolution reads from the machine; injected so tests need no real HOME. */
export interface EndpointInputs {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly homeDir: string;
  readonly platform: NodeJS.Platform;
  readFile(file: string): string | undefined;
  /** The `mlContainers.dockerHost` setting; wins over everything when non-empty. */
  readonly setting?: string;
}

export class EndpointError extends Error {
  constructor(
    message: string,
    readonly reason: 'badHost' | 'badContext',
  ) {
    super(message);
    this.name = 'EndpointError';
  }
}

const DEFAULT_UNIX = 'unix:///var/run/docker.sock';
const DEFAULT_NPIPE = 'npipe:////./pipe/docker_engine';

/**
 * Precedence follows the docker CLI (cli/command/cli.go resolveContextName), with our setting in front:
 * setting > DOCKER_HOST > DOCKER_CONTEXT > config.json currentContext > default socket.
 */
export function resolveEndpoint(inputs: EndpointInputs): DockerEndpoint {
  const setting = inputs.setting?.trim();
  if (setting) {
    return parseDockerHost(setting, 'setting', tlsFromEnv(inputs));
  }
  const envHost = inputs.env.DOCKER_HOST?.trim();
  if (envHost) {
    return parseDockerHost(envHost, 'DOCKER_HOST', tlsFromEnv(inputs));
  }
  const configDir = inputs.env.DOCKER_CONFIG || path.join(inputs.homeDir, '.docker');
  const envContext = inputs.env.DOCKER_CONTEXT?.trim();
  const contextName = envContext || currentContext(inputs, configDir);
  if (contextName && contextName !== 'default') {
    return endpointFromContext(inputs, configDir, contextName, envContext ? 'DOCKER_CONTEXT' : 'context');
  }
  return parseDockerHost(inputs.platform === 'win32' ? DEFAULT_NPIPE : DEFAULT_UNIX, 'default', undefined);
}

export function parseDockerHost(raw: string, source: EndpointSource, tls: TlsMaterial | undefined, contextName?: string): DockerEndpoint {
  // The docker CLI accepts a bare "host:port" as tcp.
  const value = raw.includes('://') ? raw : `tcp://${raw}`;
  const scheme = value.slice(0, value.indexOf('://')).toLowerCase();
  const rest = value.slice(value.indexOf('://') + 3);
  const base = { source, ...(contextName ? { contextName } : {}) };
  switch (scheme) {
    case 'unix': {
      if (!rest.startsWith('/')) {
        throw new EndpointError(`Docker host "${raw}" needs an absolute socket path, e.g. unix:///var/run/docker.sock.`, 'badHost');
      }
      return { ...base, host: `unix://${rest}`, protocol: 'unix', socketPath: rest };
    }
    case 'npipe': {
      const pipe = rest || '//./pipe/docker_engine';
      return { ...base, host: `npipe://${pipe}`, protocol: 'npipe', socketPath: pipe };
    }
    case 'tcp':
    case 'http':
    case 'https':
    case 'ssh': {
      let url: URL;
      try {
        url = new URL(`${scheme === 'ssh' ? 'ssh' : 'http'}://${rest}`);
      } catch {
        throw new EndpointError(
          `Docker host "${redact(raw)}" is not a valid address; use tcp://HOST:PORT, ssh://USER@HOST or unix:///PATH.`,
          'badHost',
        );
      }
      if (!url.hostname) {
        throw new EndpointError(`Docker host "${redact(raw)}" names no host; use tcp://HOST:PORT.`, 'badHost');
      }
      if (scheme === 'ssh') {
        const port = url.port ? Number(url.port) : 22;
        const username = decodeURIComponent(url.username) || undefined;
        return {
          ...base,
          host: `ssh://${username ? `${username}@` : ''}${url.hostname}${url.port ? `:${url.port}` : ''}`,
          protocol: 'ssh',
          hostname: url.hostname,
          port,
          ...(username ? { username } : {}),
        };
      }
      const useTls = scheme === 'https' || tls !== undefined;
      const port = url.port ? Number(url.port) : useTls ? 2376 : 2375;
      return {
        ...base,
        host: `tcp://${url.hostname}:${port}`,
        protocol: 'tcp',
        hostname: url.hostname,
        port,
        ...(useTls ? { tls: tls ?? { verify: true } } : {}),
      };
    }
    default:
      throw new EndpointError(
        `Docker host "${redact(raw)}" uses an unsupported scheme "${scheme}"; use unix://, tcp://, ssh:// or npipe://.`,
        'badHost',
      );
  }
}

/** DOCKER_TLS_VERIFY (or DOCKER_TLS) turns TLS on; DOCKER_CERT_PATH (default ~/.docker) holds ca/cert/key.pem. */
function tlsFromEnv(inputs: EndpointInputs): TlsMaterial | undefined {
  const verify = Boolean(inputs.env.DOCKER_TLS_VERIFY);
  if (!verify && !inputs.env.DOCKER_TLS) {
    return undefined;
  }
  const dir = inputs.env.DOCKER_CERT_PATH || path.join(inputs.homeDir, '.docker');
  return {
    caFile: path.join(dir, 'ca.pem'),
    certFile: path.join(dir, 'cert.pem'),
    keyFile: path.join(dir, 'key.pem'),
    verify,
  };
}

function currentContext(inputs: EndpointInputs, configDir: string): string | undefined {
  const text = inputs.readFile(path.join(configDir, 'config.json'));
  if (text === undefined) {
    return undefined;
  }
  try {
    const config: unknown = JSON.parse(text);
    const name = isRecord(config) ? config.currentContext : undefined;
    return typeof name === 'string' && name ? name : undefined;
  } catch {
    // The docker CLI refuses a broken config.json too, but the default socket is the more useful guess here.
    return undefined;
  }
}

/** Contexts live under contexts/meta/<sha256(name)>/meta.json, their TLS files under contexts/tls/<sha256(name)>/docker/. */
function endpointFromContext(inputs: EndpointInputs, configDir: string, name: string, source: EndpointSource): DockerEndpoint {
  const id = createHash('sha256').update(name).digest('hex');
  const metaFile = path.join(configDir, 'contexts', 'meta', id, 'meta.json');
  const text = inputs.readFile(metaFile);
  const fix = `run \`docker context use default\` or \`docker context ls\` to pick one that exists`;
  if (text === undefined) {
    throw new EndpointError(`Docker context "${name}" was not found (${metaFile}); ${fix}.`, 'badContext');
  }
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    throw new EndpointError(`Docker context "${name}" has an unreadable meta.json (${metaFile}); ${fix}.`, 'badContext');
  }
  const endpoints = isRecord(meta) && isRecord(meta.Endpoints) ? meta.Endpoints : undefined;
  const docker = endpoints && isRecord(endpoints.docker) ? endpoints.docker : undefined;
  const host = docker && typeof docker.Host === 'string' ? docker.Host : undefined;
  if (!host) {
    throw new EndpointError(`Docker context "${name}" has no docker endpoint; ${fix}.`, 'badContext');
  }
  const tlsDir = path.join(configDir, 'contexts', 'tls', id, 'docker');
  const hasTls = inputs.readFile(path.join(tlsDir, 'ca.pem')) !== undefined || inputs.readFile(path.join(tlsDir, 'cert.pem')) !== undefined;
  const tls: TlsMaterial | undefined = hasTls
    ? {
        caFile: path.join(tlsDir, 'ca.pem'),
        certFile: path.join(tlsDir, 'cert.pem'),
        keyFile: path.join(tlsDir, 'key.pem'),
        verify: docker?.SkipTLSVerify !== true,
      }
    : undefined;
  return parseDockerHost(host, source, tls, name);
}

/** Strips a password from user:pass@host so an address can be shown or logged. */
export function redact(address: string): string {
  return address.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}

export function describeEndpoint(endpoint: DockerEndpoint): string {
  const via =
    endpoint.source === 'default'
      ? 'default socket'
      : endpoint.source === 'setting'
        ? 'setting mlContainers.dockerHost'
        : endpoint.contextName
          ? `${endpoint.source === 'DOCKER_CONTEXT' ? 'DOCKER_CONTEXT' : 'docker context'} "${endpoint.contextName}"`
          : endpoint.source;
  return `${endpoint.host}${endpoint.tls ? ' (TLS)' : ''} via ${via}`;
}

/** Whether the engine runs on this machine (so nvidia-smi here describes its GPUs, and 127.0.0.1 reaches its ports). */
export function isLocalEndpoint(endpoint: DockerEndpoint): boolean {
  if (endpoint.protocol === 'unix' || endpoint.protocol === 'npipe') return true;
  return endpoint.protocol === 'tcp' && ['localhost', '127.0.0.1', '::1', '[::1]'].includes(endpoint.hostname ?? '');
}
