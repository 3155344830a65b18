// Whether an engine still takes new connections. A Docker engine shutting down closes its listener first, then stops
// its containers, and keeps answering on connections already open (the client's keep-alive pool among them): only a
// new connection tells.
import * as net from 'node:net';
import type { DockerEndpoint } from './endpoint';
import { EngineError } from './errors';

/** Rejects with an EngineError ('notRunning') when the engine refuses a new connection; ssh endpoints are not probed. */
export async function assertTakesConnections(endpoint: DockerEndpoint, timeoutMs = 5_000): Promise<void> {
  const target = endpoint.socketPath
    ? { path: endpoint.socketPath }
    : endpoint.protocol === 'tcp' && endpoint.hostname
      ? { host: endpoint.hostname, port: endpoint.port ?? 2375 }
      : undefined;
  if (!target) return;
  await new Promise<void>((resolve, reject) => {
    const socket = net.createConnection(target);
    const done = (e?: Error): void => {
      socket.destroy();
      if (e)
        reject(
          new EngineError(
            `Docker engine is not running at ${endpoint.host} (${(e as NodeJS.ErrnoException).code ?? e.message}).`,
            'notRunning',
          ),
        );
      else resolve();
    };
    socket.setTimeout(timeoutMs, () => done());
    socket.once('connect', () => done());
    socket.once('error', done);
  });
}
