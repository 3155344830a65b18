import type { DockerEndpoint } from './endpoint';

export type EngineErrorReason =
  | 'notRunning'
  | 'permissionDenied'
  | 'unreachable'
  | 'tls'
  | 'timeout'
  | 'notFound'
  | 'conflict'
  | 'api'
  | 'cancelled'
  /** A registry refused or wanted credentials (the engine reports this inside a 200 push stream). */
  | 'unauthorized';

/** An engine failure with one sentence that says what to do next. */
export class EngineError extends Error {
  /** `raw`: the engine's own words, when the message rephrases them (callers that match on them read this). */
  constructor(
    message: string,
    readonly reason: EngineErrorReason,
    readonly statusCode?: number,
    readonly raw?: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

interface NodeLikeError {
  code?: unknown;
  statusCode?: unknown;
  reason?: unknown;
  json?: unknown;
  message?: unknown;
  name?: unknown;
  level?: unknown;
}

/** Hints that need a look at the machine (e.g. a Podman socket nearby); computed by the caller. */
export interface ErrorHints {
  podmanSocket?: string;
}

/** Maps a raw dockerode / Node error into an EngineError that names the endpoint and the fix. */
export function toEngineError(raw: unknown, endpoint: DockerEndpoint, hints: ErrorHints = {}): EngineError {
  if (raw instanceof EngineError) {
    return raw;
  }
  const err = (typeof raw === 'object' && raw !== null ? raw : { message: String(raw) }) as NodeLikeError;
  const code = typeof err.code === 'string' ? err.code : undefined;
  const where = endpoint.host;
  if (err.name === 'AbortError' || code === 'ABORT_ERR') {
    return new EngineError('Cancelled.', 'cancelled');
  }
  if (typeof err.statusCode === 'number') {
    const message = engineMessage(err) ?? `HTTP ${err.statusCode}`;
    const known = explainRefusal(message);
    // Podman answers 404 for a file missing on its host (an init binary, a CDI device): no missing image or container;
    // a container name in use is a 500 there.
    const reason: EngineErrorReason = known
      ? 'api'
      : err.statusCode === 404
        ? 'notFound'
        : err.statusCode === 409 || /name .* is already in use/.test(message)
          ? 'conflict'
          : 'api';
    return new EngineError(
      known ? `Docker engine at ${where} refused: ${known}` : `Docker engine at ${where} answered: ${message}`,
      reason,
      err.statusCode,
      message,
    );
  }
  const podman = hints.podmanSocket
    ? ` A Podman socket exists at ${hints.podmanSocket}: set mlContainers.dockerHost (or DOCKER_HOST) to unix://${hints.podmanSocket} to use Podman instead.`
    : '';
  if (endpoint.protocol === 'unix' || endpoint.protocol === 'npipe') {
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      return new EngineError(
        `Docker engine is not running at ${where}: start Docker (Docker Desktop, or \`sudo systemctl start docker\`), or point DOCKER_HOST or the mlContainers.dockerHost setting at a running engine.${podman}`,
        'notRunning',
      );
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return new EngineError(
        `Permission denied on ${endpoint.socketPath ?? where}: add your user to the docker group (\`sudo usermod -aG docker $USER\`, then log in again) or use rootless Docker (DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock).`,
        'permissionDenied',
      );
    }
  }
  if (code && /^(ERR_TLS|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_SSL|EPROTO)/.test(code)) {
    return new EngineError(
      `TLS handshake with ${where} failed (${code}): check DOCKER_CERT_PATH holds the engine's ca.pem, cert.pem and key.pem, or the context's TLS files.`,
      'tls',
    );
  }
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || /timeout/i.test(String(err.message ?? ''))) {
    return new EngineError(
      `Docker host ${where} did not answer in time: check the host is up and reachable from here, or unset DOCKER_HOST.`,
      'timeout',
    );
  }
  if (code && ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET'].includes(code)) {
    return new EngineError(
      `Docker host ${where} is unreachable (${code}): check the host is up and its engine listens there, or unset DOCKER_HOST.`,
      'unreachable',
    );
  }
  if (
    endpoint.protocol === 'ssh' &&
    (err.level === 'client-authentication' || /authentication|handshake|ssh/i.test(String(err.message ?? '')))
  ) {
    return new EngineError(
      `SSH to ${where} failed (${String(err.message)}): check that \`ssh ${endpoint.username ? `${endpoint.username}@` : ''}${endpoint.hostname ?? ''}\` works with your agent (SSH_AUTH_SOCK).`,
      'unreachable',
    );
  }
  return new EngineError(`Docker engine at ${where} failed: ${String(err.message ?? raw)}`, 'api');
}

/**
 * Whether a failure means the engine went away under the call (stopped, killed, restarting): its socket is gone or
 * refuses, or it dropped the connection. A refusal the engine answered is not one.
 */
export function isEngineGone(e: unknown): boolean {
  if (e instanceof EngineError) return e.reason === 'notRunning' || e.reason === 'unreachable';
  const code = typeof e === 'object' && e !== null ? (e as NodeLikeError).code : undefined;
  return typeof code === 'string' && ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE'].includes(code);
}

/** The one sentence for an engine that stopped during an operation: what happened, what was left, what to do. */
export function engineStoppedError(endpoint: DockerEndpoint, during: string, next: string): EngineError {
  return new EngineError(`The Docker engine at ${endpoint.host} stopped ${during}: ${next}`, 'notRunning');
}

function engineMessage(err: NodeLikeError): string | undefined {
  const json = err.json;
  if (typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string') {
    return (json as { message: string }).message.trim();
  }
  if (typeof json === 'string' && json.trim()) {
    return json.trim();
  }
  return typeof err.reason === 'string' ? err.reason : undefined;
}

const RLIMITS: Readonly<Record<string, string>> = { '6': 'nproc', '7': 'nofile', '8': 'memlock', '3': 'stack' };

/**
 * One sentence for refusals whose raw text does not say what to do: Podman's missing init binary, a CDI device with
 * no spec, resource limits the host cannot raise (runc's "rlimit type N", crun's "setrlimit RLIMIT_X"). The raw
 * words that identify it stay in the sentence. undefined for anything else.
 */
export function explainRefusal(message: string): string | undefined {
  const init = /container-init binary not found on the host: stat ([^\s:]+)/.exec(message);
  if (init) {
    return `Podman has no init binary (${init[1]} is missing), and containers here run with one so that stop and Ctrl-C reach the command: install catatonit (\`sudo apt-get install catatonit\`), or set init_path in containers.conf.`;
  }
  const cdi =
    /stat (nvidia\.com\/gpu=[\w.-]+): no such file or directory/.exec(message) ?? /unresolvable CDI devices:? (\S+)/.exec(message);
  if (cdi) {
    return `no CDI spec names ${cdi[1]} (the GPU Podman was asked for): generate one with \`sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml\`, or run on CPU (--gpu none, mlContainers.gpu: none).`;
  }
  const rlimit = /error setting rlimit type (\d+)/.exec(message) ?? /setrlimit `?RLIMIT_([A-Z]+)/.exec(message);
  if (rlimit) {
    const name = RLIMITS[rlimit[1]!] ?? rlimit[1]!.toLowerCase();
    return `this host does not let the engine raise the ${name} limit (error setting rlimit ${name}: operation not permitted): on Podman set default_ulimits in /etc/containers/containers.conf to limits the host allows (\`ulimit -Hn\`, \`ulimit -Hu\`); for a GPU container, run on CPU or on a host that allows memlock=-1.`;
  }
  return undefined;
}
