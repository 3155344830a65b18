import * as http from 'node:http';
import type { ContainerCreateRequest, ContainerDetails, Engine, ImageDetails } from '../docker/engine';
import { EngineError } from '../docker/errors';
import type { GpuDecision, GpuSetting } from '../container/gpu';
import { chooseGpu } from '../container/gpu';
import type { HostUser } from '../container/hostUser';
import { hostUser } from '../container/hostUser';
import { checkImagePrivileges } from '../container/imagePrivileges';
import { launchContainer } from '../container/launch';
import type { RuntimeSettings } from '../container/runtime';
import type { ContainerSpec } from '../container/request';
import { containerRequest, gpuLabel, imageTitle } from '../container/request';
import { WORKSPACE_IN_CONTAINER } from '../container/workspace';
import { UserError } from '../errors';
import type { GpuPreflight } from '../gpu/preflight';
import { isLocalEndpoint } from '../docker/endpoint';
import type { HostGpuProbe } from '../gpu/nvidiaSmi';
import type { ToolkitProbe } from '../gpu/toolkit';
import {
  GPU_LABEL,
  IMAGE_ID_LABEL,
  IMAGE_REF_LABEL,
  MANAGED_LABEL,
  REVISION_LABEL,
  ROLE_LABEL,
  TITLE_LABEL,
  WORKSPACE_LABEL,
} from '../labels';
import type { Logger } from '../log';
import { imageName } from '../reference';
import type { Catalog } from '../scaffold/catalog';
import { maskSecrets, newToken, rememberSecret } from '../secrets';

const CONTAINER_PORT = '8888/tcp';

/** A Jupyter server in an experiment container, as VS Code and the CLI need it. */
export interface JupyterServer {
  containerId: string;
  name: string;
  imageRef: string;
  imageId: string;
  revision: string | undefined;
  title: string;
  workspace: string;
  running: boolean;
  /** undefined while the container is not running. */
  port: number | undefined;
  baseUrl: string | undefined;
  /** Read back from the container's environment; never in labels or logs. */
  token: string | undefined;
  gpu: string;
}

/** "dimuon @ 3f2a1bc": how servers are listed in the kernel picker and the CLI. */
export function serverLabel(s: Pick<JupyterServer, 'title' | 'revision' | 'imageId'>): string {
  return `${s.title} @ ${shortId(s.revision, s.imageId)}`;
}

/** The commit's sha7, or the image id's first 7 hex digits for images without git provenance. */
function shortId(revision: string | undefined, imageId: string): string {
  return revision ? revision.slice(0, 7) : imageId.replace(/^sha256:/, '').slice(0, 7);
}

/** The browser URL, token included: for the user's own eyes (stdout, "Open in Browser"), never for a log. */
export function browserUrl(s: Pick<JupyterServer, 'baseUrl' | 'token'>): string | undefined {
  return s.baseUrl && s.token ? `${s.baseUrl}/?token=${s.token}` : undefined;
}

export class JupyterStartError extends UserError {
  constructor(
    message: string,
    readonly logTail: string[] = [],
  ) {
    super(message);
    this.name = 'JupyterStartError';
  }
}

/**
 * Jupyter Lab where installed, else Jupyter Server, else the classic notebook — all from jupyter_server >= 1.
 * The token comes from JUPYTER_TOKEN (environment, not argv: argv shows up in `ps` on the host for every user).
 * Inside the container it listens on all interfaces; the engine publishes it on the host's 127.0.0.1 only, and
 * allow_remote_access=False makes the server refuse requests whose Host header is not local.
 */
export const JUPYTER_SCRIPT = [
  'if command -v jupyter-lab >/dev/null 2>&1; then exec jupyter lab "$@"; fi',
  'if command -v jupyter-server >/dev/null 2>&1; then exec jupyter server "$@"; fi',
  'exec jupyter notebook "$@"',
].join('\n');

export const JUPYTER_ARGS = [
  '--ip=0.0.0.0',
  '--port=8888',
  '--no-browser',
  '--allow-root',
  '--ServerApp.allow_remote_access=False',
  `--ServerApp.root_dir=${WORKSPACE_IN_CONTAINER}`,
];

export interface JupyterContainerInput {
  image: { ref: string; details: ImageDetails };
  workspace: string;
  token: string;
  name: string;
  decision: GpuDecision;
  shmSizeBytes: number;
  runtime?: RuntimeSettings;
  hostUser?: HostUser;
}

/** What Jupyter adds to the container for its image and workspace: its server, token and loopback port. */
export function jupyterContainerSpec(i: JupyterContainerInput): ContainerSpec {
  return {
    role: 'jupyter',
    name: i.name,
    image: i.image,
    workspace: i.workspace,
    decision: i.decision,
    shmSizeBytes: i.shmSizeBytes,
    script: JUPYTER_SCRIPT,
    args: JUPYTER_ARGS,
    env: [`JUPYTER_TOKEN=${i.token}`],
    publish: [CONTAINER_PORT],
    ...(i.runtime ? { runtime: i.runtime } : {}),
    ...(i.hostUser ? { hostUser: i.hostUser } : {}),
  };
}

/** The create request, built without side effects so tests can read every field. */
export function jupyterContainerRequest(i: JupyterContainerInput): ContainerCreateRequest {
  return containerRequest(jupyterContainerSpec(i));
}

export interface StartJupyterOptions {
  engine: Engine;
  /** Image reference or id. */
  image: string;
  /** Host folder bind-mounted at /workspace. */
  workspace: string;
  gpu: GpuSetting;
  shmSizeBytes: number;
  readyTimeoutMs: number;
  /** devcontainer.json's env, mounts, runArgs and user, and the user's own (core/container/runtime.ts). */
  runtime?: RuntimeSettings;
  log: Logger;
  catalog?: Catalog;
  probe?: () => Promise<HostGpuProbe>;
  /** The NVIDIA toolkit's files on this machine; tests pass a fake of our own probe. */
  toolkit?: (specDirs: string[]) => Promise<ToolkitProbe>;
  signal?: AbortSignal;
}

export interface StartJupyterResult {
  server: JupyterServer;
  decision: GpuDecision;
  /** One line for the user when the GPU setting could not be honoured (auto → CPU). */
  note: string | undefined;
  reused: boolean;
  preflight: GpuPreflight | undefined;
}

/**
 * Starts (or finds running) the Jupyter container for this workspace and image, and resolves once /api/status
 * answers with the token. A container that exits while starting is removed and its last log lines reported.
 */
export async function startJupyter(o: StartJupyterOptions): Promise<StartJupyterResult> {
  const { engine, log } = o;
  if (!isLocalEndpoint(engine.endpoint)) {
    throw new JupyterStartError(
      `Jupyter is published on the engine host's 127.0.0.1 only, and ${engine.endpoint.host} is another machine: use a local engine, or run \`mlc up\` on that host and forward the port with \`ssh -L\`.`,
    );
  }
  const details = await engine.inspectImage(o.image, o.signal);
  if (!details) {
    throw new JupyterStartError(`Image ${o.image} not found: build it first ("Build Experiment Image" or \`mlc build\`).`);
  }
  const image = { ref: o.image, details };
  // Before a Jupyter container is replaced: an image asking for privileges not agreed to starts nothing.
  await checkImagePrivileges(image, o.workspace, o.runtime);
  const { decision, preflight, ...choice } = await chooseGpu({
    engine,
    image,
    gpu: o.gpu,
    log,
    folder: o.workspace,
    ...(o.catalog ? { catalog: o.catalog } : {}),
    ...(o.probe ? { probe: o.probe } : {}),
    ...(o.toolkit ? { toolkit: o.toolkit } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });

  const existing = await findJupyterServers(engine, { workspace: o.workspace, imageId: details.id, all: true }, o.signal);
  for (const server of existing) {
    // `auto` keeps whatever runs (its kernels hold the user's state); an explicit GPU choice must match.
    if (server.running && (o.gpu === 'auto' || server.gpu === gpuLabel(decision)) && server.baseUrl && server.token) {
      log.info(`Jupyter already runs in ${server.name} (${serverLabel(server)})`);
      await waitForJupyter(engine, server, o.readyTimeoutMs, log, o.signal);
      return { server, decision, note: choice.note, reused: true, preflight };
    }
    log.info(`removing ${server.running ? 'running' : 'stopped'} ${server.name} (GPU ${server.gpu}) before starting a new one`);
    await engine.removeContainer(server.containerId, { force: true }, o.signal);
  }

  const token = newToken();
  const title = imageTitle(o.image, details);
  const owner = o.runtime ? await hostUser(engine, details, o.runtime, o.workspace, o.signal) : undefined;
  const input: JupyterContainerInput = {
    image,
    workspace: o.workspace,
    token,
    name: `${imageName(title)}-${shortId(details.labels[REVISION_LABEL], details.id)}-jupyter`,
    decision,
    shmSizeBytes: o.shmSizeBytes,
    ...(o.runtime ? { runtime: o.runtime } : {}),
    ...(owner ? { hostUser: owner } : {}),
  };

  const started = await launchContainer(engine, jupyterContainerSpec(input), {
    gpu: o.gpu,
    preflight,
    log,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const id = started.id;
  const note = started.note ?? choice.note;
  const server = await readServer(engine, id, o.signal);
  if (!server) throw new JupyterStartError(`Container ${input.name} vanished right after it started.`);
  log.info(`started ${server.name} from ${o.image} (GPU: ${server.gpu}); Jupyter on 127.0.0.1:${String(server.port)}`);
  try {
    await waitForJupyter(engine, server, o.readyTimeoutMs, log, o.signal);
  } catch (e) {
    await engine.removeContainer(server.containerId, { force: true }).catch(() => undefined);
    throw e;
  }
  return { server, decision: started.decision, note, reused: false, preflight };
}

/** Polls GET /api/status with the token until 200; fails early, with the last log lines, if the container exits. */
export async function waitForJupyter(
  engine: Engine,
  server: JupyterServer,
  timeoutMs: number,
  log: Logger,
  signal?: AbortSignal,
  intervalMs = 100,
): Promise<void> {
  const exited = async (): Promise<JupyterStartError | undefined> => {
    const state = await engine.inspectContainer(server.containerId, signal);
    if (state?.running) return undefined;
    const tail = await lastLogLines(engine, server.containerId, 20);
    return new JupyterStartError(
      `Jupyter's container ${server.name} exited (code ${String(state?.exitCode ?? '?')}) before Jupyter answered${tail.length ? `; its last lines:\n${tail.join('\n')}` : '.'}`,
      tail,
    );
  };
  if (!server.baseUrl || !server.token) {
    // A container that already exited has no published port either: say why it exited.
    throw (await exited()) ?? new JupyterStartError(`${server.name} publishes no port for Jupyter on 127.0.0.1.`);
  }
  const deadline = Date.now() + timeoutMs;
  let lastInspect = 0;
  for (;;) {
    if (signal?.aborted) throw new EngineError('Cancelled.', 'cancelled');
    const status = await httpStatus(`${server.baseUrl}/api/status`, { Authorization: `token ${server.token}` }, 1000);
    if (status === 200) {
      log.debug(`${server.name}: /api/status answered 200`);
      return;
    }
    if (Date.now() - lastInspect > 1000) {
      lastInspect = Date.now();
      const error = await exited();
      if (error) throw error;
    }
    if (Date.now() > deadline) {
      const tail = await lastLogLines(engine, server.containerId, 20);
      throw new JupyterStartError(
        `Jupyter in ${server.name} did not answer within ${Math.round(timeoutMs / 1000)} s (mlContainers.jupyter.readyTimeout)${tail.length ? `; its last lines:\n${tail.join('\n')}` : '.'}`,
        tail,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * GET → status code, 0 on any failure. node:http rather than fetch: before Jupyter listens, the engine's port proxy
 * accepts the connection and holds it, and Node 20's fetch then waits on an unreferenced socket and timer — a CLI
 * process simply exits mid-wait.
 */
export function httpStatus(url: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const request = http.get(url, { headers, timeout: timeoutMs }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(0));
  });
}

/** The container's last log lines, tokens masked. */
export async function lastLogLines(engine: Engine, id: string, count: number): Promise<string[]> {
  const text = await engine.containerLogs(id, count).catch(() => '');
  return maskSecrets(text)
    .split(/\r?\n/)
    .filter((l) => l.trim())
    .slice(-count);
}

/** Jupyter containers we started, optionally for one workspace and image; ports and tokens read back by inspect. */
export async function findJupyterServers(
  engine: Engine,
  filter: { workspace?: string; imageId?: string; all?: boolean },
  signal?: AbortSignal,
): Promise<JupyterServer[]> {
  const labels = [`${MANAGED_LABEL}=true`, `${ROLE_LABEL}=jupyter`];
  if (filter.workspace) labels.push(`${WORKSPACE_LABEL}=${filter.workspace}`);
  if (filter.imageId) labels.push(`${IMAGE_ID_LABEL}=${filter.imageId}`);
  const summaries = await engine.listContainers({ labels, all: filter.all ?? false }, signal);
  const servers = await Promise.all(summaries.map((c) => readServer(engine, c.id, signal)));
  return servers.filter((s): s is JupyterServer => s !== undefined);
}

async function readServer(engine: Engine, id: string, signal?: AbortSignal): Promise<JupyterServer | undefined> {
  const c = await engine.inspectContainer(id, signal);
  return c ? toServer(c) : undefined;
}

export function toServer(c: ContainerDetails): JupyterServer {
  const binding = c.ports[CONTAINER_PORT]?.find((b) => b.hostIp === '127.0.0.1' && b.hostPort);
  const port = binding ? Number(binding.hostPort) : undefined;
  const token = c.env.find((e) => e.startsWith('JUPYTER_TOKEN='))?.slice('JUPYTER_TOKEN='.length);
  if (token) rememberSecret(token);
  return {
    containerId: c.id,
    name: c.name,
    imageRef: c.labels[IMAGE_REF_LABEL] ?? c.imageId,
    imageId: c.labels[IMAGE_ID_LABEL] ?? c.imageId,
    revision: c.labels[REVISION_LABEL],
    title: c.labels[TITLE_LABEL] ?? c.name,
    workspace: c.labels[WORKSPACE_LABEL] ?? '',
    running: c.running,
    port: c.running ? port : undefined,
    baseUrl: c.running && port ? `http://127.0.0.1:${port}` : undefined,
    token,
    gpu: c.labels[GPU_LABEL] ?? 'none',
  };
}

/** Stops and removes Jupyter containers (the token dies with them; a new start makes a new one). */
export async function stopJupyter(engine: Engine, servers: readonly JupyterServer[], signal?: AbortSignal): Promise<void> {
  for (const s of servers) {
    await engine.stopContainer(s.containerId, 10, signal);
    await engine.removeContainer(s.containerId, { force: true }, signal);
  }
}
