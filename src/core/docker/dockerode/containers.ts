import { Writable } from 'node:stream';
import { isRecord } from '../../json';
import type { ContainerCreateRequest, ContainerDetails, ContainerSummary, PortBinding } from '../engine';
import { EngineError, toEngineError } from '../errors';
import { awaitStream } from '../stream';
import type { DockerConnection } from './client';
import { demuxLogStreams } from './logs';
import { num, record, str, stringMap } from './parse';

export async function createContainer(conn: DockerConnection, request: ContainerCreateRequest, signal?: AbortSignal): Promise<string> {
  const container = await conn.call((d) => d.createContainer({ ...request, abortSignal: signal }));
  return container.id;
}

export async function startContainer(conn: DockerConnection, id: string, signal?: AbortSignal): Promise<void> {
  await conn.call((d) => d.getContainer(id).start({ abortSignal: signal }));
}

export async function restartContainer(conn: DockerConnection, id: string, signal?: AbortSignal): Promise<void> {
  await conn.call((d) => d.getContainer(id).restart({ abortSignal: signal }));
}

export async function stopContainer(conn: DockerConnection, id: string, timeoutSeconds = 10, signal?: AbortSignal): Promise<void> {
  try {
    await conn.call((d) => d.getContainer(id).stop({ t: timeoutSeconds, abortSignal: signal }));
  } catch (e) {
    // 304: already stopped.
    if (!(e instanceof EngineError && e.statusCode === 304)) throw e;
  }
}

export async function removeContainer(
  conn: DockerConnection,
  id: string,
  options: { force?: boolean } = {},
  signal?: AbortSignal,
): Promise<void> {
  await conn.call((d) => d.getContainer(id).remove({ force: options.force ?? false, v: true, abortSignal: signal }));
}

export async function inspectContainer(conn: DockerConnection, id: string, signal?: AbortSignal): Promise<ContainerDetails | undefined> {
  try {
    const raw: unknown = await conn.call((d) => d.getContainer(id).inspect({ abortSignal: signal }));
    const c = record(raw, 'container');
    const config = isRecord(c.Config) ? c.Config : {};
    const state = isRecord(c.State) ? c.State : {};
    const network = isRecord(c.NetworkSettings) ? c.NetworkSettings : {};
    const hostConfig = isRecord(c.HostConfig) ? c.HostConfig : {};
    const ports: Record<string, PortBinding[]> = {};
    if (isRecord(network.Ports)) {
      for (const [port, bindings] of Object.entries(network.Ports)) {
        ports[port] = Array.isArray(bindings)
          ? bindings.filter(isRecord).map((b) => ({ hostIp: str(b.HostIp), hostPort: str(b.HostPort) }))
          : [];
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
      // The engine reports 0001-01-01T00:00:00Z for a container that has not exited.
      ...(str(state.FinishedAt) && !str(state.FinishedAt).startsWith('0001-') ? { finishedAt: str(state.FinishedAt) } : {}),
      ports,
      deviceRequests: Array.isArray(hostConfig.DeviceRequests) ? hostConfig.DeviceRequests.length : 0,
    };
  } catch (e) {
    if (e instanceof EngineError && e.reason === 'notFound') return undefined;
    throw e;
  }
}

export async function listContainers(
  conn: DockerConnection,
  filter: { labels?: string[]; all?: boolean },
  signal?: AbortSignal,
): Promise<ContainerSummary[]> {
  const filters: Record<string, string[]> = {};
  if (filter.labels?.length) filters.label = filter.labels;
  const raw: unknown = await conn.call((d) => d.listContainers({ all: filter.all ?? false, filters, abortSignal: signal }));
  if (!Array.isArray(raw)) {
    throw new EngineError(`Docker engine at ${conn.endpoint.host} sent an unexpected container list.`, 'api');
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

export async function waitContainer(conn: DockerConnection, id: string, signal?: AbortSignal): Promise<number> {
  const raw: unknown = await conn.call((d) => d.getContainer(id).wait({ abortSignal: signal }));
  const result = record(raw, 'wait');
  if (isRecord(result.Error) && result.Error.Message) {
    throw new EngineError(`Waiting for container ${id.slice(0, 12)} failed: ${str(result.Error.Message)}`, 'api');
  }
  return num(result.StatusCode);
}

/**
 * `docker run --rm` of a command, its output captured: create, start, wait, then the logs, then remove. The output is
 * read after the exit rather than attached before the start (dockerode's run): no race between the attach stream
 * and the exit, and nothing left waiting when an engine (Podman 4.3) closes the attach connection its own way.
 */
export async function runCapture(
  conn: DockerConnection,
  image: string,
  command: string[],
  signal?: AbortSignal,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const id = await createContainer(conn, { Image: image, Cmd: command, Entrypoint: [], HostConfig: { NetworkMode: 'none' } }, signal);
  try {
    await startContainer(conn, id, signal);
    const exitCode = await waitContainer(conn, id, signal);
    const raw: unknown = await conn.call((d) =>
      d.getContainer(id).logs({ stdout: true, stderr: true, follow: false, abortSignal: signal }),
    );
    return { exitCode, ...demuxLogStreams(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw))) };
  } finally {
    await removeContainer(conn, id, { force: true }).catch(() => undefined);
  }
}

/** `docker exec` without a TTY: the command's exit code and output, or the engine's refusal (e.g. not running). */
export async function execCapture(
  conn: DockerConnection,
  id: string,
  command: string[],
  signal?: AbortSignal,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const exec = await conn.call((d) =>
    d.getContainer(id).exec({ Cmd: command, AttachStdout: true, AttachStderr: true, abortSignal: signal }),
  );
  const stream = (await conn.call(() => exec.start({ hijack: true, stdin: false, abortSignal: signal }))) as NodeJS.ReadableStream;
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const sink = (into: Buffer[]): Writable => new Writable({ write: (chunk: Buffer, _enc, done) => (into.push(chunk), done()) });
  conn.dockerode().modem.demuxStream(stream, sink(chunks.stdout), sink(chunks.stderr));
  if (
    (await awaitStream(stream, signal).catch((e: unknown) => {
      throw toEngineError(e, conn.endpoint);
    })) === 'aborted'
  ) {
    throw new EngineError('Cancelled.', 'cancelled');
  }
  const state = record(await conn.call(() => exec.inspect({ abortSignal: signal })), 'exec');
  return {
    exitCode: typeof state.ExitCode === 'number' ? state.ExitCode : -1,
    stdout: Buffer.concat(chunks.stdout).toString('utf8'),
    stderr: Buffer.concat(chunks.stderr).toString('utf8'),
  };
}
