// devcontainer.json's variables, resolved as the official implementation (@devcontainers/cli) does when it reads a
// configuration, so a config means the same thing to `mlc` and to `devcontainer up`. ${containerEnv:…} is left for
// the container to resolve; ${devcontainerId} is resolved here too, from the same id labels the official CLI uses.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { UserError } from './errors';

export interface VariableContext {
  /** The project folder on this machine, absolute. */
  localWorkspaceFolder: string;
  /** Where the folder is in the container (before substitution: it may use local variables itself). */
  containerWorkspaceFolder: string;
  /** devcontainer.json's path, absolute: with the folder, what ${devcontainerId} is derived from. */
  configFile: string;
  /** The local environment for ${localEnv:…} (${env:…}). */
  env: Readonly<Record<string, string | undefined>>;
}

export class UnresolvableVariableError extends UserError {
  constructor(match: string, configFile: string) {
    super(`${match} in ${path.basename(configFile)} names no environment variable: write \${localEnv:NAME} or \${localEnv:NAME:default}.`);
    this.name = 'UnresolvableVariableError';
  }
}

/**
 * devcontainer.json with every string's ${localEnv:NAME[:default]} (and ${env:…}), ${localWorkspaceFolder},
 * ${localWorkspaceFolderBasename}, ${containerWorkspaceFolder}, ${containerWorkspaceFolderBasename} and
 * ${devcontainerId} replaced; keys are kept as written, unknown variables and ${containerEnv:…} are left as they are.
 * An unset variable without a default is the empty string, as in a shell.
 */
export function substituteVariables<T>(config: T, context: VariableContext): T {
  const substitute = substituter(context);
  return walk(config, (text) => substitute(text).value) as T;
}

/**
 * One string's variables substituted as substituteVariables does; `fromHost` when a value from this machine's
 * environment (${localEnv:…}) went in, which makes the result a secret (never in a label, record or log).
 */
export function substituteText(text: string, context: VariableContext): { value: string; fromHost: boolean } {
  return substituter(context)(text);
}

function substituter(context: VariableContext): (text: string) => { value: string; fromHost: boolean } {
  // The container folder may itself be written with local variables (e.g. /workspaces/${localWorkspaceFolderBasename}).
  const containerFolder = context.containerWorkspaceFolder.replace(VARIABLE, (match: string, inner: string) =>
    localValue(match, inner, context, undefined),
  );
  let id: string | undefined;
  return (text) => {
    let fromHost = false;
    const local = text.replace(VARIABLE, (match: string, inner: string) => {
      const name = inner.split(':')[0];
      if (name === 'env' || name === 'localEnv') fromHost = true;
      return localValue(match, inner, context, containerFolder);
    });
    const value = local.replace(VARIABLE, (match: string, inner: string) =>
      inner === 'devcontainerId' ? (id ??= devcontainerId(context.localWorkspaceFolder, context.configFile)) : match,
    );
    return { value, fromHost };
  };
}

/**
 * The official CLI's ${devcontainerId}: sha256 of its id labels (the folder and the config file, keys sorted) as a
 * base-32 number, 52 digits. Stable for a folder and config, different across them.
 */
export function devcontainerId(localWorkspaceFolder: string, configFile: string): string {
  const labels: Record<string, string> = { 'devcontainer.local_folder': localWorkspaceFolder, 'devcontainer.config_file': configFile };
  const hash = createHash('sha256')
    .update(JSON.stringify(labels, Object.keys(labels).sort()), 'utf8')
    .digest('hex');
  return BigInt(`0x${hash}`).toString(32).padStart(52, '0');
}

// Non-greedy, as the official implementation: the first `}` ends a variable.
const VARIABLE = /\$\{(.*?)\}/g;

function localValue(match: string, inner: string, context: VariableContext, containerFolder: string | undefined): string {
  const [name, ...args] = inner.split(':');
  switch (name) {
    case 'env':
    case 'localEnv': {
      const variable = args[0];
      if (variable === undefined) throw new UnresolvableVariableError(match, context.configFile);
      const value = context.env[variable];
      // Only the text up to the next `:` is the default, as in the official implementation.
      return typeof value === 'string' ? value : (args[1] ?? '');
    }
    case 'localWorkspaceFolder':
      return context.localWorkspaceFolder;
    case 'localWorkspaceFolderBasename':
      return path.basename(context.localWorkspaceFolder);
    case 'containerWorkspaceFolder':
      return containerFolder ?? match;
    case 'containerWorkspaceFolderBasename':
      return containerFolder === undefined ? match : path.posix.basename(containerFolder);
    default:
      return match;
  }
}

function walk(value: unknown, replace: (text: string) => string): unknown {
  if (typeof value === 'string') return replace(value);
  if (Array.isArray(value)) return value.map((v) => walk(v, replace));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, replace)]));
  }
  return value;
}
