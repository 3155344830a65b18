import * as fs from 'node:fs';
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
