// Registry credentials found the way the docker CLI finds them: $DOCKER_CONFIG/config.json, its per-registry
// credHelpers, its credsStore, then its own `auths`. Secrets stay in RegistryAuth values; no message here quotes
// the file, a helper's answer or an env var value.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../errors';
import { isRecord } from '../json';
import { splitRegistry } from '../reference';
import type { RegistryAuth } from './engine';

/** Docker Hub's key in config.json and for credential helpers (docker's IndexServer). */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export class RegistryAuthError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryAuthError';
  }
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

/** The parts of config.json that say where credentials are, validated. */
export interface DockerConfig {
  file: string;
  auths: Record<string, AuthEntry>;
  credHelpers: Record<string, string>;
  credsStore?: string;
}

/** Where the credentials came from, for messages: never the credentials themselves. */
export interface ResolvedAuth {
  /** undefined: push anonymously. */
  auth: RegistryAuth | undefined;
  source: string;
}

/**
 * The registry host of an image reference, as docker splits it: the first path component when it has a `.` or a
 * `:` or is `localhost`, else Docker Hub.
 */
export function registryHost(reference: string): string {
  return splitRegistry(reference).registry;
}

/** The key docker files a registry's credentials under: Docker Hub's legacy URL, else host[:port]. */
export function credentialKey(host: string): string {
  return host === 'docker.io' || host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB_KEY : host;
}

/** Docker's ConvertToHostname: old config files key entries by URL (`https://host/v1/`). */
function keyHostname(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0]!;
}

export function dockerConfigFile(env: Readonly<Record<string, string | undefined>>, homeDir: string): string {
  return path.join(env.DOCKER_CONFIG || path.join(homeDir, '.docker'), 'config.json');
}

const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Parses config.json; errors name the file and the field, never the content (it holds credentials). */
export function parseDockerConfig(text: string, file: string): DockerConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the fault, which may be a password.
    throw new RegistryAuthError(`${file} is not valid JSON: fix or remove it, then run \`docker login\` again.`);
  }
  if (!isRecord(raw)) throw new RegistryAuthError(`${file} is not a JSON object: fix or remove it, then run \`docker login\` again.`);
  const config: DockerConfig = { file, auths: {}, credHelpers: {} };
  if (raw.auths !== undefined) {
    if (!isRecord(raw.auths)) throw new RegistryAuthError(`${file}: "auths" is not an object.`);
    for (const [key, entry] of Object.entries(raw.auths)) {
      if (!isRecord(entry)) throw new RegistryAuthError(`${file}: auths["${key}"] is not an object.`);
      const out: AuthEntry = {};
      for (const field of ['auth', 'username', 'password', 'identitytoken'] as const) {
        const value = entry[field];
        if (value === undefined || value === null || value === '') continue;
        if (typeof value !== 'string') throw new RegistryAuthError(`${file}: auths["${key}"].${field} is not a string.`);
        out[field] = value;
      }
      config.auths[key] = out;
    }
  }
  if (raw.credHelpers !== undefined) {
    if (!isRecord(raw.credHelpers)) throw new RegistryAuthError(`${file}: "credHelpers" is not an object.`);
    for (const [key, helper] of Object.entries(raw.credHelpers)) {
      if (typeof helper !== 'string' || !HELPER_NAME.test(helper)) {
        throw new RegistryAuthError(`${file}: credHelpers["${key}"] is not a credential helper name (docker-credential-<name>).`);
      }
      config.credHelpers[key] = helper;
    }
  }
  if (raw.credsStore !== undefined && raw.credsStore !== '') {
    if (typeof raw.credsStore !== 'string' || !HELPER_NAME.test(raw.credsStore)) {
      throw new RegistryAuthError(`${file}: "credsStore" is not a credential helper name (docker-credential-<name>).`);
    }
    config.credsStore = raw.credsStore;
  }
  return config;
}

/** Reads config.json; undefined when there is none (a machine that never ran `docker login`). */
export async function readDockerConfig(
  env: Readonly<Record<string, string | undefined>>,
  homeDir: string,
): Promise<DockerConfig | undefined> {
  const file = dockerConfigFile(env, homeDir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RegistryAuthError(
      `Cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'}): check its permissions, or point DOCKER_CONFIG at another folder.`,
    );
  }
  return parseDockerConfig(text, file);
}

/** Runs `docker-credential-<helper> get` with the server URL on stdin. */
export type CredentialHelperRunner = (
  helper: string,
  serverUrl: string,
  signal?: AbortSignal,
) => Promise<{ exitCode: number; stdout: string }>;

/** The real runner: the helper found on PATH from `env` (the CLI passes its own env, tests a temp PATH). */
export function processCredentialHelper(env: Readonly<Record<string, string | undefined>>): CredentialHelperRunner {
  return (helper, serverUrl, signal) =>
    new Promise((resolve, reject) => {
      const program = `docker-credential-${helper}`;
      const child = spawn(program, ['get'], {
        env: env as NodeJS.ProcessEnv,
        stdio: ['pipe', 'pipe', 'ignore'],
        ...(signal ? { signal } : {}),
      });
      const out: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') {
          reject(
            new RegistryAuthError(
              `${program} is not on PATH: install it, or remove "${helper}" from your docker config.json (credHelpers/credsStore).`,
            ),
          );
        } else if (e.name === 'AbortError') {
          reject(new RegistryAuthError('Cancelled.'));
        } else {
          reject(new RegistryAuthError(`${program} could not be started (${e.code ?? e.name}).`));
        }
      });
      child.on('close', (code) => resolve({ exitCode: code ?? -1, stdout: Buffer.concat(out).toString('utf8') }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(serverUrl);
    });
}

async function fromHelper(
  helper: string,
  key: string,
  run: CredentialHelperRunner,
  signal?: AbortSignal,
): Promise<RegistryAuth | undefined> {
  const program = `docker-credential-${helper}`;
  const { exitCode, stdout } = await run(helper, key, signal);
  if (exitCode !== 0) {
    // The protocol's "nothing stored" answer (docker treats it as no credentials, not as a failure).
    if (/credentials not found/i.test(stdout)) return undefined;
    throw new RegistryAuthError(
      `${program} get failed (exit ${exitCode}) for ${key}: run \`${loginCommand(key)}\`, or check the helper works (\`echo ${key} | ${program} get\`).`,
    );
  }
  let answer: unknown;
  try {
    answer = JSON.parse(stdout);
  } catch {
    answer = undefined;
  }
  if (!isRecord(answer) || typeof answer.Username !== 'string' || typeof answer.Secret !== 'string') {
    throw new RegistryAuthError(
      `${program} get answered something other than {"Username", "Secret"} JSON for ${key}: check the helper's version.`,
    );
  }
  if (!answer.Secret) return undefined;
  return answer.Username === '<token>'
    ? { identitytoken: answer.Secret, serveraddress: key }
    : { username: answer.Username, password: answer.Secret, serveraddress: key };
}

function fromFile(config: DockerConfig, key: string): RegistryAuth | undefined {
  const entry = config.auths[key] ?? Object.entries(config.auths).find(([k]) => keyHostname(k) === key)?.[1];
  if (!entry) return undefined;
  const auth: RegistryAuth = { serveraddress: key };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new RegistryAuthError(
        `${config.file}: auths["${key}"].auth is not base64 of user:password: run \`${loginCommand(key)}\` again.`,
      );
    }
    auth.username = decoded.slice(0, colon);
    auth.password = decoded.slice(colon + 1);
  } else {
    if (entry.username) auth.username = entry.username;
    if (entry.password) auth.password = entry.password;
  }
  if (entry.identitytoken) auth.identitytoken = entry.identitytoken;
  return auth.password || auth.identitytoken ? auth : undefined;
}

/**
 * The credentials docker would send to `host`: the registry's credHelpers entry, else credsStore (a helper's
 * answer is final, as in docker, even when it has nothing), else config.json's auths. None: anonymous.
 */
export async function resolveRegistryAuth(
  host: string,
  config: DockerConfig | undefined,
  run: CredentialHelperRunner,
  signal?: AbortSignal,
): Promise<ResolvedAuth> {
  const key = credentialKey(host);
  if (!config) return { auth: undefined, source: 'none (no docker config.json)' };
  const helper = config.credHelpers[key] ?? config.credsStore;
  if (helper) {
    const auth = await fromHelper(helper, key, run, signal);
    const which = config.credHelpers[key] ? `credential helper docker-credential-${helper}` : `credsStore docker-credential-${helper}`;
    return { auth, source: auth ? which : `none (${which} has none for ${key})` };
  }
  const auth = fromFile(config, key);
  return { auth, source: auth ? `${config.file}` : `none (no entry for ${key} in ${config.file})` };
}

/** Reads config.json and resolves the credentials for `host`, running helpers found on env's PATH. */
export async function loadRegistryAuth(
  host: string,
  env: Readonly<Record<string, string | undefined>>,
  homeDir: string,
  signal?: AbortSignal,
): Promise<ResolvedAuth> {
  return resolveRegistryAuth(host, await readDockerConfig(env, homeDir), processCredentialHelper(env), signal);
}

/** `docker login <host>` as the user types it (Docker Hub needs no host); takes a host or a credential key. */
export function loginCommand(host: string): string {
  return host === DOCKER_HUB_KEY || credentialKey(host) === DOCKER_HUB_KEY ? 'docker login' : `docker login ${host}`;
}
