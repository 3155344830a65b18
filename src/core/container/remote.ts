// The workspace is bind-mounted: a path on the engine's machine. An engine on another machine would mount its own
// (most likely missing, so empty) folder of that name, without a word.
import type { DockerEndpoint } from '../docker/endpoint';
import { UserError } from '../errors';
import { isLocalEndpoint } from '../docker/endpoint';

export class RemoteEngineError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'RemoteEngineError';
  }
}

/**
 * Refuses to start a container that mounts `workspace` on an engine that runs on another machine (tcp:// or ssh://
 * to another host, a docker context pointing there). `what` names the command: "mlc run", "Open Shell".
 */
export function assertEngineSeesWorkspace(endpoint: DockerEndpoint, workspace: string, what: string): void {
  if (isLocalEndpoint(endpoint)) return;
  throw new RemoteEngineError(
    `${what} bind-mounts ${workspace}, which the engine at ${endpoint.host} cannot see (it runs on another machine): run mlc on that host, or use a local engine (unset DOCKER_HOST, or point mlContainers.dockerHost at a local socket).`,
  );
}
