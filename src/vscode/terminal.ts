import * as vscode from 'vscode';
import type { EngineProvider } from './engineProvider';

/** bash as a login shell where the image has it (AnalysisBase's setup needs one), else sh. */
export const LOGIN_SHELL = ['sh', '-c', 'command -v bash >/dev/null && exec bash -l || exec sh'];

/** A terminal running the docker CLI against the engine ML Containers uses (the dockerHost setting included). */
export function dockerTerminal(
  engines: EngineProvider,
  name: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): vscode.Terminal {
  const endpoint = engines.get().endpoint;
  const env: Record<string, string> = { ...extraEnv, ...(endpoint.source === 'setting' ? { DOCKER_HOST: endpoint.host } : {}) };
  const terminal = vscode.window.createTerminal({ name, shellPath: 'docker', shellArgs: args, env });
  terminal.show();
  return terminal;
}
