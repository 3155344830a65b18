import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineOptions } from './dockerode/client';
import { createEngine } from './dockerode/createEngine';
import type { Engine } from './engine';
import type { EndpointInputs } from './endpoint';
import { resolveEndpoint } from './endpoint';
import type { ErrorHints } from './errors';

/** Endpoint inputs read from this process and machine (the CLI, and the extension host). */
export function machineEndpointInputs(setting?: string): EndpointInputs {
  return {
    env: process.env,
    homeDir: os.homedir(),
    platform: process.platform,
    readFile: (file) => {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    },
    ...(setting ? { setting } : {}),
  };
}

/** Looks for a Podman socket so "Docker is not running" can say that Podman is there instead. */
export function machineErrorHints(): ErrorHints {
  const candidates = [
    process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'podman', 'podman.sock') : undefined,
    '/run/podman/podman.sock',
  ];
  const podmanSocket = candidates.find((c): c is string => c !== undefined && fs.existsSync(c));
  return podmanSocket ? { podmanSocket } : {};
}

/**
 * The engine this machine points at, resolved like the docker CLI; `setting` (mlContainers.dockerHost or
 * --host) wins. `env` replaces process.env where a caller injects its own (the CLI's tests).
 */
export function machineEngine(setting: string | undefined, options: EngineOptions = {}, env?: EndpointInputs['env']): Engine {
  const inputs = machineEndpointInputs(setting);
  return createEngine(resolveEndpoint(env ? { ...inputs, env } : inputs), { hints: machineErrorHints, ...options });
}
