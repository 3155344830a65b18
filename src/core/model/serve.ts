// `mlc serve MODEL`: a container of a model image running our V2 server (templates/model/serve.py) over the project's
// predict.py, published on the host's 127.0.0.1 only, at a port the engine picks, with a fresh bearer token — as
// Jupyter is (core/jupyter/server.ts). A model image that carries the server and predict.py (its CMD runs
// SERVER_PATH) serves as it is; one saved before that gets both bind-mounted read-only from here.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ContainerCreateRequest, ContainerDetails, Engine, ImageDetails } from '../docker/engine';
import { EngineError } from '../docker/errors';
import { isLocalEndpoint } from '../docker/endpoint';
import type { ContainerSpec } from '../container/request';
import { containerRequest } from '../container/request';
import { UserError } from '../errors';
import { httpStatus, lastLogLines } from '../jupyter/server';
import { IMAGE_ID_LABEL, IMAGE_REF_LABEL, LABEL_PREFIX, MANAGED_LABEL, ROLE_LABEL } from '../labels';
import type { Logger } from '../log';
import { shortImageId } from '../reference';
import { newToken, rememberSecret } from '../secrets';
import { MODEL_DIR, readModelLabels, shownValue } from './card';
import { PREDICT_PATH, SERVER_PATH, SERVE_PORT, imageServes, readPredict, servedModelName } from './layout';

const CONTAINER_PORT = `${SERVE_PORT}/tcp`;
/** The role label of a serving container (runs say "run", Jupyter "jupyter"; the model image itself "model"). */
export const SERVE_ROLE = 'serve';
/** The private folder of a server's mounted predict.py (a copy), removed with the container. */
export const SERVE_FILES_LABEL = `${LABEL_PREFIX}.serve.files`;
/** The token's variable; the engine keeps it in the container's config, as JUPYTER_TOKEN. */
const TOKEN_ENV = 'MLC_SERVE_TOKEN';

/** python3 where the image has it, else python: both exist in the images we build FROM. */
const SERVE_SCRIPT = [
  `if command -v python3 >/dev/null 2>&1; then exec python3 ${SERVER_PATH} "$@"; fi`,
  `exec python ${SERVER_PATH} "$@"`,
].join('\n');

export class ServeError extends UserError {
  constructor(
    message: string,
    readonly logTail: string[] = [],
  ) {
    super(message);
    this.name = 'ServeError';
  }
}

/** A serving container, as the CLI and VS Code show it; the token is read back from its environment, never a label. */
export interface ModelServer {
  containerId: string;
  container: string;
  /** The model's name in the V2 paths. */
  model: string;
  imageId: string;
  imageRef: string;
  running: boolean;
  port: number | undefined;
  baseUrl: string | undefined;
  token: string | undefined;
  /** The private folder of its mounted predict.py, when it has one. */
  filesDir: string | undefined;
}

export interface ServeSpecInput {
  image: { ref: string; details: ImageDetails };
  name: string;
  model: string;
  token: string;
  /** Host folder the container is labelled with (and whose files are mounted, when there are any). */
  workspace: string;
  /** serve.py and a private copy of predict.py on this machine, mounted read-only where the image has none. */
  mount?: { server: string; predict: string; dir: string };
}

/** What the serving container is made of; pure, so tests read every field. */
export function serveContainerSpec(i: ServeSpecInput): ContainerSpec {
  return {
    // The base role's shape (no workspace, no GPU); the label below says what the container is.
    role: 'shell',
    name: i.name,
    image: i.image,
    workspace: i.workspace,
    mountWorkspace: false,
    decision: { mode: 'cpu' },
    shmSizeBytes: 256 * 1024 ** 2,
    script: SERVE_SCRIPT,
    args: ['--host', '0.0.0.0', '--port', String(SERVE_PORT), '--name', i.model, '--model-dir', MODEL_DIR, '--predict', PREDICT_PATH],
    env: [`${TOKEN_ENV}=${i.token}`, `MLC_MODEL_NAME=${i.model}`],
    labels: { [ROLE_LABEL]: SERVE_ROLE, ...(i.mount ? { [SERVE_FILES_LABEL]: i.mount.dir } : {}) },
    ...(i.mount ? { binds: [`${i.mount.server}:${SERVER_PATH}:ro`, `${i.mount.predict}:${PREDICT_PATH}:ro`] } : {}),
    publish: [CONTAINER_PORT],
  };
}

/** The create request; `hostPort` replaces the engine's choice of port (still on 127.0.0.1 only). */
export function serveContainerRequest(i: ServeSpecInput, hostPort?: number): ContainerCreateRequest {
  const request = containerRequest(serveContainerSpec(i));
  if (hostPort === undefined) return request;
  return {
    ...request,
    HostConfig: { ...request.HostConfig, PortBindings: { [CONTAINER_PORT]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } },
  };
}

export interface ServeModelOptions {
  engine: Engine;
  /** A model image: NAME:RUN, an alias, or an id. */
  model: string;
  /** The host port; default: one the engine picks. */
  port?: number;
  /** predict.py to mount instead of the image's own (and where the image has none). */
  predict?: string;
  /** The project folder: its predict.py is mounted when the image has none and `predict` is not given. */
  workspace: string;
  /** templates/, for serve.py when the image has none. */
  templatesDir: string;
  readyTimeoutMs: number;
  log: Logger;
  signal?: AbortSignal;
}

/** Starts the model's server and resolves once it says ready and takes the token; on any failure nothing is left. */
export async function serveModel(o: ServeModelOptions): Promise<ModelServer> {
  const { engine, log } = o;
  if (!isLocalEndpoint(engine.endpoint)) {
    throw new ServeError(
      `A model is served on the engine host's 127.0.0.1 only, and ${engine.endpoint.host} is another machine: use a local engine, or run \`mlc serve\` on that host and forward the port with \`ssh -L\`.`,
    );
  }
  const details = await engine.inspectImage(o.model, o.signal);
  if (!details)
    throw new ServeError(
      `No image ${shownValue(o.model)} on this engine: \`mlc models\` lists the model images (save one with \`mlc model save RUN\`).`,
    );
  const facts = readModelLabels(details.labels);
  if (!facts)
    throw new ServeError(
      `${shownValue(o.model)} is not a model image (it has no org.mlcontainers.role=model label): save a run as a model with \`mlc model save RUN\`, then serve that.`,
    );
  const model = servedModelName(o.model, details);
  const mount = o.predict !== undefined || !imageServes(details) ? await hostFiles(o) : undefined;
  if (mount)
    log.info(
      `${imageServes(details) ? "instead of the image's own" : 'the image carries no server'}: mounting ${mount.source} (a copy) and ${mount.server} read-only`,
    );
  const token = newToken();
  const input: ServeSpecInput = {
    image: { ref: o.model, details },
    // Several servers of one model may run (ports differ): the suffix keeps their names apart.
    name: `${model}-serve-${randomBytes(3).toString('hex')}`,
    model,
    token,
    workspace: o.workspace,
    ...(mount ? { mount } : {}),
  };
  let id: string | undefined;
  try {
    id = await engine.createContainer(serveContainerRequest(input, o.port), o.signal);
    await engine.startContainer(id, o.signal);
  } catch (e) {
    if (id !== undefined) await engine.removeContainer(id, { force: true }).catch(() => undefined);
    await removeServeFiles(mount?.dir);
    const raw = e instanceof EngineError ? (e.raw ?? e.message) : e instanceof Error ? e.message : String(e);
    if (o.port !== undefined && /port is already allocated|address already in use|bind.*in use/i.test(raw)) {
      throw new ServeError(`Port ${o.port} on 127.0.0.1 is taken: pass another --port, or leave it out and the engine picks a free one.`);
    }
    throw e;
  }
  try {
    const server = await readServer(engine, id, o.signal);
    if (!server) throw new ServeError(`The server's container ${input.name} vanished right after it started.`);
    log.info(
      `started ${server.container} from ${o.model} (${shortImageId(details.id)}${facts.run ? `, run ${facts.run}` : ''}) on 127.0.0.1:${String(server.port)}`,
    );
    await waitForServer(engine, server, o.readyTimeoutMs, o.signal);
    return server;
  } catch (e) {
    await engine.removeContainer(id, { force: true }).catch(() => undefined);
    await removeServeFiles(mount?.dir);
    throw e;
  }
}

/**
 * serve.py from templates/, and a private copy of the predict.py to use: the project is mounted read-write into
 * every run, and a run could have made predict.py a link to a host file (~/.ssh/id_rsa), which a bind mount would
 * follow into the model's container. The copy is made from a file read without following links (readPredict).
 */
async function hostFiles(o: ServeModelOptions): Promise<{ server: string; predict: string; dir: string; source: string }> {
  const source = path.resolve(o.workspace, o.predict ?? 'predict.py');
  const server = path.join(o.templatesDir, 'model', 'serve.py');
  const content = await readPredict(source);
  if (content === undefined) {
    throw new ServeError(
      o.predict !== undefined
        ? `${shownValue(source)} is not there: --predict names the predict.py that gives load(model_dir) and predict(model, inputs).`
        : `The model image carries no predict.py and ${shownValue(o.workspace)} has none: run \`mlc serve\` in the project folder (--dir), or pass --predict FILE.`,
    );
  }
  if (
    !(await fs.stat(server).then(
      (st) => st.isFile(),
      () => false,
    ))
  )
    throw new ServeError(`The model server ${server} is missing: reinstall ML Containers.`);
  // A bind string splits at ':' (host:container:ro): such a path would mount the wrong thing, or fail unclearly.
  if (server.includes(':'))
    throw new ServeError(
      `${shownValue(server)} has a ':' in its path, which a bind mount cannot carry: install ML Containers under a path without one.`,
    );
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlc-serve-'));
  await fs.writeFile(path.join(dir, 'predict.py'), content, { mode: 0o644 });
  return { server, predict: path.join(dir, 'predict.py'), dir, source };
}

/** Removes a server's private folder: only one hostFiles made (its label names it; nothing else is touched). */
async function removeServeFiles(dir: string | undefined): Promise<void> {
  if (dir === undefined || path.dirname(dir) !== os.tmpdir() || !/^mlc-serve-[A-Za-z0-9]{6}$/.test(path.basename(dir))) return;
  await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Polls /v2/health/ready until 200, then checks the token opens the model's metadata; fails early, with the last
 * log lines, when the container exits (a predict.py that does not import, a load() that raises).
 */
export async function waitForServer(
  engine: Engine,
  server: ModelServer,
  timeoutMs: number,
  signal?: AbortSignal,
  intervalMs = 100,
): Promise<void> {
  const exited = async (): Promise<ServeError | undefined> => {
    const state = await engine.inspectContainer(server.containerId, signal);
    if (state?.running) return undefined;
    const tail = await lastLogLines(engine, server.containerId, 20);
    return new ServeError(
      `The model server ${server.container} exited (code ${String(state?.exitCode ?? '?')}) before it was ready${tail.length ? `; its last lines:\n${tail.join('\n')}` : '.'}`,
      tail,
    );
  };
  if (!server.baseUrl || !server.token) throw (await exited()) ?? new ServeError(`${server.container} publishes no port on 127.0.0.1.`);
  const deadline = Date.now() + timeoutMs;
  let lastInspect = 0;
  for (;;) {
    if (signal?.aborted) throw new EngineError('Cancelled.', 'cancelled');
    if ((await httpStatus(`${server.baseUrl}/v2/health/ready`, {}, 1000)) === 200) break;
    if (Date.now() - lastInspect > 1000) {
      lastInspect = Date.now();
      const error = await exited();
      if (error) throw error;
    }
    if (Date.now() > deadline) {
      const tail = await lastLogLines(engine, server.containerId, 20);
      throw new ServeError(
        `The model server in ${server.container} was not ready within ${Math.round(timeoutMs / 1000)} s (--timeout)${tail.length ? `; its last lines:\n${tail.join('\n')}` : '.'}`,
        tail,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const status = await httpStatus(`${server.baseUrl}/v2/models/${server.model}`, { Authorization: `Bearer ${server.token}` }, 5000);
  if (status !== 200)
    throw new ServeError(
      `The model server in ${server.container} is ready but answered ${status} to its own token: the image's ${SERVER_PATH} may not be ours; save the model again.`,
    );
}

/** Serving containers mlc started, optionally of one image; ports and tokens read back by inspect. */
export async function findModelServers(
  engine: Engine,
  filter: { imageId?: string; all?: boolean },
  signal?: AbortSignal,
): Promise<ModelServer[]> {
  const labels = [`${MANAGED_LABEL}=true`, `${ROLE_LABEL}=${SERVE_ROLE}`];
  if (filter.imageId) labels.push(`${IMAGE_ID_LABEL}=${filter.imageId}`);
  const summaries = await engine.listContainers({ labels, all: filter.all ?? true }, signal);
  const servers = await Promise.all(summaries.map((c) => readServer(engine, c.id, signal)));
  return servers.filter((s): s is ModelServer => s !== undefined);
}

async function readServer(engine: Engine, id: string, signal?: AbortSignal): Promise<ModelServer | undefined> {
  const c = await engine.inspectContainer(id, signal);
  return c && c.labels[ROLE_LABEL] === SERVE_ROLE && c.labels[MANAGED_LABEL] === 'true' ? toServer(c) : undefined;
}

export function toServer(c: ContainerDetails): ModelServer {
  const env = (name: string): string | undefined => c.env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
  const binding = c.ports[CONTAINER_PORT]?.find((b) => b.hostIp === '127.0.0.1' && b.hostPort);
  const port = binding ? Number(binding.hostPort) : undefined;
  const token = env(TOKEN_ENV);
  if (token) rememberSecret(token);
  return {
    containerId: c.id,
    container: c.name,
    model: env('MLC_MODEL_NAME') ?? 'model',
    imageId: c.labels[IMAGE_ID_LABEL] ?? c.imageId,
    imageRef: c.labels[IMAGE_REF_LABEL] ?? c.imageId,
    running: c.running,
    port: c.running ? port : undefined,
    baseUrl: c.running && port ? `http://127.0.0.1:${port}` : undefined,
    token,
    filesDir: c.labels[SERVE_FILES_LABEL],
  };
}

/**
 * The servers `mlc serve --stop TARGET` means: TARGET is a serving container (name or id) or a model image, whose
 * every server goes. A container that is not one of ours is refused, not stopped.
 */
export async function serversToStop(engine: Engine, target: string, signal?: AbortSignal): Promise<ModelServer[]> {
  const container = await engine.inspectContainer(target, signal);
  if (container) {
    const server =
      container.labels[ROLE_LABEL] === SERVE_ROLE && container.labels[MANAGED_LABEL] === 'true' ? toServer(container) : undefined;
    if (!server)
      throw new ServeError(
        `Container ${shownValue(target)} is not a model server \`mlc serve\` started: stop it with docker, or name a model or one of the containers \`mlc serve\` printed.`,
      );
    return [server];
  }
  const image = await engine.inspectImage(target, signal);
  if (!image)
    throw new ServeError(
      `No model server and no image ${shownValue(target)} on this engine: name the model (NAME:RUN) or the container \`mlc serve\` printed.`,
    );
  return findModelServers(engine, { imageId: image.id }, signal);
}

/** Stops and removes serving containers; the token dies with them. */
export async function stopModelServers(engine: Engine, servers: readonly ModelServer[], signal?: AbortSignal): Promise<void> {
  for (const s of servers) {
    await engine.stopContainer(s.containerId, 5, signal);
    await engine.removeContainer(s.containerId, { force: true }, signal);
    await removeServeFiles(s.filesDir);
  }
}

/**
 * A curl command that works as printed: an infer request with zeros of the shapes predict.py declares (INPUTS,
 * -1 read as 1), else the metadata request.
 */
export async function curlCommand(server: ModelServer): Promise<string> {
  const url = `${server.baseUrl ?? ''}/v2/models/${server.model}`;
  const auth = `-H 'Authorization: Bearer ${server.token ?? ''}'`;
  const meta = await getJson(url, { Authorization: `Bearer ${server.token ?? ''}` }).catch(() => undefined);
  const body = exampleRequest(meta);
  return body ? `curl -s ${auth} -H 'Content-Type: application/json' -d '${JSON.stringify(body)}' ${url}/infer` : `curl -s ${auth} ${url}`;
}

/** {"inputs": [...]} of zeros for the declared inputs, or undefined where the metadata declares none we can fill. */
export function exampleRequest(
  meta: unknown,
): { inputs: { name: string; shape: number[]; datatype: string; data: unknown[] }[] } | undefined {
  const inputs = (meta as { inputs?: unknown } | undefined)?.inputs;
  if (!Array.isArray(inputs) || !inputs.length) return undefined;
  const out = [];
  for (const i of inputs as { name?: unknown; shape?: unknown; datatype?: unknown }[]) {
    if (typeof i.name !== 'string' || !/^[\w.-]{1,64}$/.test(i.name) || typeof i.datatype !== 'string' || !Array.isArray(i.shape))
      return undefined;
    const shape = (i.shape as unknown[]).map((d) => (d === -1 ? 1 : d));
    if (!shape.every((d): d is number => Number.isInteger(d) && (d as number) >= 0)) return undefined;
    const size = shape.reduce((a, b) => a * b, 1);
    if (size > 4096) return undefined;
    const zero = i.datatype === 'BOOL' ? false : i.datatype === 'BYTES' ? '' : 0;
    out.push({ name: i.name, shape, datatype: i.datatype.replace(/[^A-Z0-9]/g, ''), data: new Array<unknown>(size).fill(zero) });
  }
  return { inputs: out };
}

function getJson(url: string, headers: Record<string, string>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, timeout: 5000 }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (c: Buffer) => {
        size += c.length;
        // Metadata carries the card; anything past this is not worth reading for a curl example.
        if (size > 4 * 1024 * 1024) request.destroy(new Error('metadata too large'));
        else chunks.push(c);
      });
      response.on('end', () => {
        try {
          resolve(response.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}
