import * as fs from 'node:fs';
import type * as http from 'node:http';
import type { DockerEndpoint } from './endpoint';
import { EngineError } from './errors';

/**
 * The connection fields of dockerode's DockerOptions that we set. Every connection key is required, even when
 * undefined: docker-modem merges its own DOCKER_HOST defaults under ours, and a missing key would let the
 * environment win over the endpoint we resolved.
 */
export interface EndpointOptions {
  host: string | undefined;
  port: number | undefined;
  socketPath: string | undefined;
  protocol: 'http' | 'https' | 'ssh' | undefined;
  ca: Buffer | undefined;
  cert: Buffer | undefined;
  key: Buffer | undefined;
  timeout?: number;
  username?: string | undefined;
  sshOptions?: { agent: string | undefined };
  checkServerIdentity?: () => undefined;
  agent?: http.Agent;
}

/** How to reach the endpoint; reads the TLS files, so it throws an EngineError (reason 'tls') when one is missing. */
export function endpointOptions(endpoint: DockerEndpoint, timeoutMs: number | undefined): EndpointOptions {
  const base: EndpointOptions = {
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
      return { ...base, socketPath: endpoint.socketPath, agent: socketAgent() };
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
          throw new EngineError(
            `TLS file ${file} is missing or unreadable: set DOCKER_CERT_PATH to the folder holding ca.pem, cert.pem and key.pem.`,
            'tls',
          );
        }
      };
      const options: EndpointOptions = {
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

let agent: http.Agent | undefined;

/**
 * The agent for an engine's socket: node's global agent's settings, plus an empty TLS server name. Without one, node
 * works out a server name for every request by asking whether the host is an IP address, and the first such question
 * compiles an IPv6 regular expression: ~8 ms of every fresh `mlc` process's first engine call (bench/ row 8). A socket
 * has no TLS, so the name is never used. Required here, not imported: the extension activates without node:http.
 */
function socketAgent(): http.Agent {
  if (!agent) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Agent } = require('node:http') as typeof http;
    agent = new Agent({ keepAlive: true, scheduling: 'lifo', timeout: 5000, servername: '' } as http.AgentOptions);
    // docker-modem formats every request's options (hidden properties, any depth) for a debug line it then drops;
    // an agent with a socket in flight took ~10 ms of that per request. It is shown by name instead.
    Object.defineProperty(agent, Symbol.for('nodejs.util.inspect.custom'), { value: () => 'Agent (engine socket)' });
  }
  return agent;
}
