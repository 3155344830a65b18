// What a container of this project sees beyond the image: devcontainer.json's containerEnv, remoteEnv, mounts, the
// runArgs the Engine API can take, containerUser/remoteUser, and the user's own --env, --env-file and --mount. One
// function reads the parsed devcontainer.json (runtimeSettings); request.ts puts the result into every create
// request. Values that come from the user's environment, an env file or a flag are secret: only their names leave
// this process (records, labels, logs, manifests, tooltips).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../errors';
import { isRecord } from '../json';
import { parseMetadataLabel } from '../features/metadata';
import type { ImageConsent } from './imageConsent';
import { allowedImages, imagePrivilegesFile } from './imageConsent';
import { DEVCONTAINER_METADATA_LABEL } from '../labels';
import { rememberSecret } from '../secrets';
import { substituteText } from '../devcontainerVariables';
import { parseSize } from '../format';
import { WORKSPACE_IN_CONTAINER } from './workspace';

export class RuntimeSettingsError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeSettingsError';
  }
}

/** One environment variable; `secret` ones are written nowhere but the create request (and masked in logs). */
export interface EnvVar {
  name: string;
  value: string;
  secret: boolean;
}

/** A mount as the Engine API's HostConfig.Mounts takes it. */
export interface MountSpec {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** '' for tmpfs and an anonymous volume. */
  Source: string;
  Target: string;
  ReadOnly?: boolean;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

export interface RuntimeSettings {
  env: EnvVar[];
  mounts: MountSpec[];
  /** `-v` in runArgs, as the Engine API's Binds take it. */
  binds: string[];
  /** runArgs `--shm-size`, in bytes. */
  shmSizeBytes?: number;
  ulimits: { Name: string; Soft: number; Hard: number }[];
  capAdd: string[];
  /** devcontainer.json's securityOpt and runArgs --security-opt. */
  securityOpt?: string[];
  /** devcontainer.json's privileged and runArgs --privileged. */
  privileged?: boolean;
  devices: DeviceMapping[];
  ipc?: string;
  /** remoteUser, else containerUser: the user our containers' one process runs as. */
  user?: string;
  /** devcontainer.json updateRemoteUserUID (default true): run as the workspace's owner on Linux. */
  updateRemoteUserUID: boolean;
  /**
   * Whose privileges from the image's devcontainer.metadata apply (imagePrivileges.ts): the Features devcontainer.json
   * lists, and the images the user agreed to. None: only what asks for no privileges applies.
   */
  imageConsent?: ImageConsent;
}

/** What the user adds beyond devcontainer.json: `mlc run --env/--env-file/--mount`, mlContainers.run.*. */
export interface UserRuntimeInput {
  /** NAME=VALUE, or NAME (its value from the host environment). */
  env?: readonly string[];
  /** docker env files: NAME=VALUE lines, `#` comments; relative to the workspace. */
  envFiles?: readonly string[];
  /** docker `--mount` syntax: type=bind,source=/data,target=/data,readonly. */
  mounts?: readonly string[];
  /** `--allow-image-privileges`: agree to what the image's devcontainer.metadata asks, remembered for that image. */
  allowImagePrivileges?: boolean;
}

export const NO_RUNTIME: RuntimeSettings = {
  env: [],
  mounts: [],
  binds: [],
  ulimits: [],
  capAdd: [],
  devices: [],
  updateRemoteUserUID: true,
};

export interface SubstitutionContext {
  workspace: string;
  hostEnv: Readonly<Record<string, string | undefined>>;
  /** devcontainer.json's path, absolute: with the folder, what ${devcontainerId} is derived from (default: the folder's .devcontainer/devcontainer.json). */
  configFile?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The devcontainer.json variables, by the one substituter the project's config is read with (devcontainerVariables.ts,
 * as the official CLI resolves them), for our containers: the folder is at /workspace whatever workspaceFolder says.
 * ${containerEnv:VAR} stays for the request to fill from the image. `fromHost` says a host variable went in, which
 * makes the value secret.
 */
export function substitute(text: string, ctx: SubstitutionContext): { value: string; fromHost: boolean } {
  return substituteText(text, {
    localWorkspaceFolder: path.resolve(ctx.workspace),
    containerWorkspaceFolder: WORKSPACE_IN_CONTAINER,
    configFile: ctx.configFile ?? path.join(path.resolve(ctx.workspace), '.devcontainer', 'devcontainer.json'),
    env: ctx.hostEnv,
  });
}

/** ${containerEnv:VAR[:default]} filled from the variables before it and the image's own (remoteEnv uses it for PATH). */
export function fillContainerEnv(value: string, known: ReadonlyMap<string, string>): string {
  return value.replace(
    /\$\{containerEnv:([^}:]+)(?::([^}]*))?\}/g,
    (_whole, name: string, fallback: string | undefined) => known.get(name) ?? fallback ?? '',
  );
}

/** `NAME=VALUE` or `NAME` (from the host environment), as `docker run -e` takes it. */
export function parseEnvAssignment(text: string, hostEnv: Readonly<Record<string, string | undefined>>, what: string): EnvVar {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  if (!NAME.test(name))
    throw new RuntimeSettingsError(
      `${what} "${name}" is not a variable name: write NAME=VALUE, or NAME alone to pass this environment's value.`,
    );
  if (eq >= 0) return { name, value: text.slice(eq + 1), secret: true };
  const value = hostEnv[name];
  if (value === undefined)
    throw new RuntimeSettingsError(
      `${what} ${name}: ${name} is not set in this environment; export it first, or give ${what} ${name}=VALUE.`,
    );
  return { name, value, secret: true };
}

/**
 * A docker env file: NAME=VALUE per line, the value taken verbatim (no quotes removed, as `docker run --env-file`
 * reads it); NAME alone takes this environment's value; blank lines and `#` comments are skipped.
 */
export function parseEnvFile(text: string, file: string, hostEnv: Readonly<Record<string, string | undefined>>): EnvVar[] {
  const vars: EnvVar[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    if (!NAME.test(name))
      throw new RuntimeSettingsError(
        `${file}:${i + 1} is not NAME=VALUE: fix that line (an env file takes no quotes or \`export\`, as \`docker run --env-file\` reads it).`,
      );
    if (eq >= 0) vars.push({ name, value: line.slice(eq + 1), secret: true });
    else if (hostEnv[name] !== undefined) vars.push({ name, value: hostEnv[name], secret: true });
  });
  return vars;
}

/** docker `--mount` syntax (and devcontainer.json `mounts` strings): type=bind,source=…,target=…[,readonly]. */
export function parseMount(text: string, what: string): MountSpec {
  const fields = new Map<string, string | undefined>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (key) fields.set(key, eq < 0 ? undefined : part.slice(eq + 1).trim());
  }
  const type = fields.get('type') ?? 'volume';
  const source = fields.get('source') ?? fields.get('src');
  const target = fields.get('target') ?? fields.get('destination') ?? fields.get('dst');
  const ro = fields.has('readonly') ? fields.get('readonly') : fields.get('ro');
  const known = new Set(['type', 'source', 'src', 'target', 'destination', 'dst', 'readonly', 'ro', 'consistency']);
  const unknown = [...fields.keys()].find((k) => !known.has(k));
  if (unknown)
    throw new RuntimeSettingsError(
      `${what} "${text}": the option "${unknown}" is not one ML Containers passes on; use type, source, target and readonly.`,
    );
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs')
    throw new RuntimeSettingsError(`${what} "${text}": type must be bind, volume or tmpfs, not "${type}".`);
  if (!target || !target.startsWith('/'))
    throw new RuntimeSettingsError(
      `${what} "${text}" needs an absolute target in the container, e.g. type=bind,source=/data,target=/data.`,
    );
  if (type === 'bind' && (!source || !path.isAbsolute(source)))
    throw new RuntimeSettingsError(
      `${what} "${text}": a bind mount needs an absolute source on the host (\${localWorkspaceFolder} or \${localEnv:HOME} help).`,
    );
  const readOnly = fields.has('readonly') || fields.has('ro') ? ro === undefined || ro === 'true' || ro === '1' : false;
  return { Type: type, Source: source ?? '', Target: target, ...(readOnly ? { ReadOnly: true } : {}) };
}

/** devcontainer.json `mounts`: a string in --mount syntax, or { type, source, target }. */
function configMount(entry: unknown, ctx: SubstitutionContext): MountSpec {
  if (typeof entry === 'string') return parseMount(substitute(entry, ctx).value, 'devcontainer.json mounts');
  if (isRecord(entry) && typeof entry.target === 'string') {
    const parts = [`type=${typeof entry.type === 'string' ? entry.type : 'volume'}`, `target=${entry.target}`];
    if (typeof entry.source === 'string') parts.push(`source=${entry.source}`);
    return parseMount(substitute(parts.join(','), ctx).value, 'devcontainer.json mounts');
  }
  throw new RuntimeSettingsError(
    'devcontainer.json mounts: each entry is a string such as "type=bind,source=/data,target=/data" or { "type", "source", "target" }.',
  );
}

const RUN_ARGS_TAKEN = '--shm-size, --ulimit, --cap-add, --security-opt, --privileged, --init, --device, --ipc, --env/-e, --mount and -v';

function parseUlimit(text: string): { Name: string; Soft: number; Hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text.trim());
  if (!m) throw new RuntimeSettingsError(`devcontainer.json runArgs --ulimit "${text}" is not NAME=SOFT[:HARD], e.g. memlock=-1.`);
  return { Name: m[1]!, Soft: Number(m[2]), Hard: Number(m[3] ?? m[2]) };
}

function parseDevice(text: string): DeviceMapping {
  const [host, inContainer, perms] = text.split(':');
  if (!host?.startsWith('/'))
    throw new RuntimeSettingsError(`devcontainer.json runArgs --device "${text}" is not /dev/HOST[:/dev/CONTAINER[:rwm]].`);
  return { PathOnHost: host, PathInContainer: inContainer || host, CgroupPermissions: perms || 'rwm' };
}

/**
 * devcontainer.json runArgs, the flags that map onto the Engine API; any other flag is refused by name, so nothing
 * the user wrote is silently dropped. `--flag value` and `--flag=value` both read.
 */
export function parseRunArgs(args: readonly string[], ctx: SubstitutionContext): Partial<RuntimeSettings> & { env: EnvVar[] } {
  const out: Partial<RuntimeSettings> & {
    env: EnvVar[];
    mounts: MountSpec[];
    binds: string[];
    ulimits: RuntimeSettings['ulimits'];
    capAdd: string[];
    devices: DeviceMapping[];
  } = { env: [], mounts: [], binds: [], ulimits: [], capAdd: [], devices: [] };
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const flag = eq < 0 ? word : word.slice(0, eq);
    if (word === '--privileged' || word === '--init') {
      // --init: every container of ours has one already.
      if (word === '--privileged') out.privileged = true;
      continue;
    }
    const takes = [
      '--shm-size',
      '--ulimit',
      '--cap-add',
      '--security-opt',
      '--device',
      '--ipc',
      '--env',
      '-e',
      '--mount',
      '-v',
      '--volume',
    ];
    if (!takes.includes(flag)) {
      throw new RuntimeSettingsError(
        `devcontainer.json runArgs "${word}" is not a flag ML Containers can pass to runs, Jupyter and shells (it takes ${RUN_ARGS_TAKEN}): remove it from runArgs.`,
      );
    }
    const raw = eq >= 0 ? word.slice(eq + 1) : args[++i];
    if (raw === undefined) throw new RuntimeSettingsError(`devcontainer.json runArgs ${flag} needs a value after it.`);
    const { value, fromHost } = substitute(raw, ctx);
    switch (flag) {
      case '--shm-size':
        try {
          out.shmSizeBytes = parseSize(value);
        } catch (e) {
          throw new RuntimeSettingsError(`devcontainer.json runArgs --shm-size: ${e instanceof Error ? e.message : String(e)}`);
        }
        break;
      case '--ulimit':
        out.ulimits.push(parseUlimit(value));
        break;
      case '--cap-add':
        out.capAdd.push(value);
        break;
      case '--security-opt':
        (out.securityOpt ??= []).push(value);
        break;
      case '--device':
        out.devices.push(parseDevice(value));
        break;
      case '--ipc':
        out.ipc = value;
        break;
      case '--env':
      case '-e': {
        const v = parseEnvAssignment(value, ctx.hostEnv, 'devcontainer.json runArgs -e');
        // A value written in devcontainer.json is the project's, not a secret; one from this machine is.
        out.env.push({ ...v, secret: !value.includes('=') || fromHost });
        break;
      }
      case '--mount':
        out.mounts.push(parseMount(value, 'devcontainer.json runArgs --mount'));
        break;
      default:
        if (value.split(':').length < 2)
          throw new RuntimeSettingsError(`devcontainer.json runArgs -v "${value}" is not SOURCE:TARGET[:ro].`);
        out.binds.push(value);
    }
  }
  return out;
}

function stringList(raw: unknown, key: string, example: string): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((v) => typeof v !== 'string'))
    throw new RuntimeSettingsError(`devcontainer.json ${key} is a list of strings, e.g. ${example}.`);
  return raw as string[];
}

/** What devcontainer.metadata entries ask of every container: mounts, capAdd, securityOpt, privileged. */
export interface ImageRuntime {
  mounts: MountSpec[];
  capAdd: string[];
  securityOpt: string[];
  privileged: boolean;
}

/**
 * What each Feature of the image asks of every container made from it, read from its devcontainer.metadata label
 * (the entries with an id: ours, or a base image's built by the devcontainer CLI), in the label's order: mounts,
 * capAdd, securityOpt, privileged — as the devcontainer CLI applies them at `up`. Whether they apply is decided by
 * imagePrivileges.ts (the project's Features, or the user's consent). init needs nothing (every container has one);
 * entrypoint is not applied. A malformed entry or mount is skipped rather than failing the run: the label is the
 * image's, not something the user can fix here.
 */
export function imageFeatureRuntime(labels: Readonly<Record<string, string>>, workspace: string): { id: string; runtime: ImageRuntime }[] {
  const ctx: SubstitutionContext = { workspace, hostEnv: {} };
  return parseMetadataLabel(labels[DEVCONTAINER_METADATA_LABEL]).flatMap((entry) => {
    if (typeof entry.id !== 'string') return [];
    const runtime: ImageRuntime = { mounts: [], capAdd: [], securityOpt: [], privileged: entry.privileged === true };
    for (const m of Array.isArray(entry.mounts) ? entry.mounts : []) {
      try {
        runtime.mounts.push(configMount(m, ctx));
      } catch {
        // skipped: see above
      }
    }
    if (Array.isArray(entry.capAdd)) runtime.capAdd.push(...entry.capAdd.filter((c): c is string => typeof c === 'string'));
    if (Array.isArray(entry.securityOpt)) runtime.securityOpt.push(...entry.securityOpt.filter((c): c is string => typeof c === 'string'));
    return [{ id: entry.id, runtime }];
  });
}

function configEnv(raw: unknown, key: string, ctx: SubstitutionContext): EnvVar[] {
  if (raw === undefined) return [];
  if (!isRecord(raw)) throw new RuntimeSettingsError(`devcontainer.json ${key} is an object of NAME: "value" pairs.`);
  return Object.entries(raw).flatMap(([name, v]) => {
    // remoteEnv: null unsets a variable in the spec; our containers start without it anyway.
    if (v === null) return [];
    if (typeof v !== 'string') throw new RuntimeSettingsError(`devcontainer.json ${key}.${name} must be a string.`);
    if (!NAME.test(name)) throw new RuntimeSettingsError(`devcontainer.json ${key}: "${name}" is not a variable name.`);
    const { value, fromHost } = substitute(v, ctx);
    return [{ name, value, secret: fromHost }];
  });
}

/**
 * The runtime settings of a project: its parsed devcontainer.json (undefined when it has none), then what the user
 * adds. Later entries win: containerEnv < remoteEnv < runArgs -e < env files < --env. Secret values are registered
 * with the log masker here, where they enter.
 */
export async function runtimeSettings(
  config: Record<string, unknown> | undefined,
  o: SubstitutionContext & { user?: UserRuntimeInput },
): Promise<RuntimeSettings> {
  const c = config ?? {};
  const runArgs = c.runArgs === undefined ? [] : c.runArgs;
  if (!Array.isArray(runArgs) || runArgs.some((a) => typeof a !== 'string'))
    throw new RuntimeSettingsError('devcontainer.json runArgs is a list of strings, e.g. ["--shm-size=8g"].');
  const mountsRaw = c.mounts === undefined ? [] : c.mounts;
  if (!Array.isArray(mountsRaw)) throw new RuntimeSettingsError('devcontainer.json mounts is a list.');
  const fromArgs = parseRunArgs(runArgs as string[], o);
  const files = await Promise.all(
    (o.user?.envFiles ?? []).map(async (f) => {
      const file = path.resolve(o.workspace, f);
      const text = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new RuntimeSettingsError(`env file ${f} cannot be read (${e.code ?? e.message}): give an existing file.`);
      });
      return parseEnvFile(text, f, o.hostEnv);
    }),
  );
  const env = [
    ...configEnv(c.containerEnv, 'containerEnv', o),
    ...configEnv(c.remoteEnv, 'remoteEnv', o),
    ...fromArgs.env,
    ...files.flat(),
    ...(o.user?.env ?? []).map((e) => parseEnvAssignment(e, o.hostEnv, '--env')),
  ];
  for (const v of env) if (v.secret) rememberSecret(v.value);
  const user = [c.remoteUser, c.containerUser].find((u): u is string => typeof u === 'string' && u.length > 0);
  const securityOpt = [...stringList(c.securityOpt, 'securityOpt', '["seccomp=unconfined"]'), ...(fromArgs.securityOpt ?? [])];
  const privileged = c.privileged === true || fromArgs.privileged === true;
  const consentFile = imagePrivilegesFile(o.hostEnv);
  const imageConsent: ImageConsent = {
    features: isRecord(c.features) ? Object.keys(c.features) : [],
    allowed: consentFile ? await allowedImages(consentFile) : [],
    ...(o.user?.allowImagePrivileges ? { allowThis: true } : {}),
    ...(consentFile ? { file: consentFile } : {}),
  };
  return {
    // One entry per name, the last one winning, where the first stood.
    env: [...new Map(env.map((v) => [v.name, v])).values()],
    mounts: [
      ...mountsRaw.map((m) => configMount(m, o)),
      ...(fromArgs.mounts ?? []),
      ...(o.user?.mounts ?? []).map((m) => parseMount(substitute(m, o).value, '--mount')),
    ],
    binds: fromArgs.binds ?? [],
    ...(fromArgs.shmSizeBytes !== undefined ? { shmSizeBytes: fromArgs.shmSizeBytes } : {}),
    ulimits: fromArgs.ulimits ?? [],
    capAdd: [...new Set([...stringList(c.capAdd, 'capAdd', '["SYS_PTRACE"]'), ...(fromArgs.capAdd ?? [])])],
    ...(securityOpt.length ? { securityOpt: [...new Set(securityOpt)] } : {}),
    ...(privileged ? { privileged } : {}),
    devices: fromArgs.devices ?? [],
    ...(fromArgs.ipc ? { ipc: fromArgs.ipc } : {}),
    ...(user ? { user: substitute(user, o).value } : {}),
    updateRemoteUserUID: c.updateRemoteUserUID !== false,
    imageConsent,
  };
}

/** The names a record may keep: every variable the settings add, never a value. */
export function envNames(settings: RuntimeSettings): string[] {
  return settings.env.map((v) => v.name);
}

/** The values given on a command line or in settings as NAME=VALUE: kept in memory (or a child's environment), never on disk. */
export function givenEnvValues(env: readonly string[] = []): Record<string, string> {
  return Object.fromEntries(env.filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/** --env entries as names only: what a plan on disk may keep (the values come back from the environment). */
export function envNamesOnly(env: readonly string[] = []): string[] {
  return env.map((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e));
}
