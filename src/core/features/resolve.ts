// devcontainer.json's `features`, resolved as the Dev Containers Features spec says (containers.dev/implementors/
// features): each key is a local folder (`./features/<id>`, relative to devcontainer.json), an OCI reference
// (`ghcr.io/devcontainers/features/python:1`) or a tarball URL; each resolves to its devcontainer-feature.json and
// its files, in memory (a Feature is a few kilobytes). `dependsOn` Features are added as the spec says.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type * as TarStream from 'tar-stream';
import { UserError } from '../errors';
import { isRecord } from '../json';
import { parseJsonc } from '../scaffold/mergeDevcontainer';
import { tryParseReference } from '../reference';

export class FeatureError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'FeatureError';
  }
}

export type FeatureOptionValue = string | boolean;

export interface FeatureFile {
  /** Relative to the Feature's folder, forward slashes. */
  path: string;
  content: Buffer;
  mode: number;
}

export interface FeatureOptionSpec {
  type?: string;
  default?: FeatureOptionValue;
}

/** devcontainer-feature.json, validated where it is read. */
export interface FeatureManifest {
  id: string;
  version?: string;
  options: Record<string, FeatureOptionSpec>;
  containerEnv: Record<string, string>;
  installsAfter: string[];
  dependsOn: Record<string, Record<string, FeatureOptionValue>>;
  legacyIds: string[];
  /** The whole file, for the properties devcontainer.metadata carries (mounts, capAdd, init …). */
  raw: Record<string, unknown>;
}

export type FeatureSource = 'local' | 'oci' | 'tarball';

export interface ResolvedFeature {
  /** The key as devcontainer.json (or a dependsOn) wrote it. */
  userId: string;
  /** The Feature without its version: an absolute folder, `registry/path`, or the URL; what equality and order go by. */
  resource: string;
  source: FeatureSource;
  /** The options devcontainer.json gave (defaults are applied when installing). */
  options: Record<string, FeatureOptionValue>;
  manifest: FeatureManifest;
  files: FeatureFile[];
}

/** How OCI and tarball Features are downloaded: an interface of ours, so tests need no registry. */
export interface FeatureDownloader {
  /** The Feature's layer (a tar) for an OCI reference such as ghcr.io/devcontainers/features/python:1. */
  oci(reference: string, signal?: AbortSignal): Promise<Buffer>;
  /** A devcontainer-feature-<id>.tgz (or .tar) from an https URL. */
  tarball(url: string, signal?: AbortSignal): Promise<Buffer>;
}

/** Where a Feature key points, before anything is read. */
export function classifyFeature(key: string, configDir: string): { source: FeatureSource; resource: string } {
  if (key.startsWith('./') || key.startsWith('../')) {
    const folder = path.resolve(configDir, key);
    // The spec keeps local Features inside the .devcontainer folder, so a project never installs files from elsewhere.
    const rel = path.relative(configDir, folder);
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new FeatureError(
        `The Feature "${key}" is outside ${configDir}: local Features live in a folder beside devcontainer.json (./features/<id>).`,
      );
    }
    return { source: 'local', resource: folder };
  }
  if (/^https?:\/\//i.test(key)) {
    if (!/^https:\/\//i.test(key)) throw new FeatureError(`The Feature "${key}" is fetched over plain http: use an https URL.`);
    return { source: 'tarball', resource: key };
  }
  const ref = key.includes('/') ? tryParseReference(key) : undefined;
  if (!ref) {
    throw new FeatureError(
      `The Feature "${key}" is neither a local folder (./features/<id>), an OCI reference (ghcr.io/devcontainers/features/<id>:1) nor an https URL: write it as one of those.`,
    );
  }
  return { source: 'oci', resource: `${ref.registry}/${ref.path}` };
}

/** The `features` object of devcontainer.json: key → options (a string is the `version` option, as the spec says). */
export function featureRequests(config: Record<string, unknown>): { key: string; options: Record<string, FeatureOptionValue> }[] {
  const features = config.features;
  if (features === undefined) return [];
  if (!isRecord(features))
    throw new FeatureError('"features" in devcontainer.json is not an object: write it as { "<feature>": { <options> } }.');
  return Object.entries(features).map(([key, value]) => ({ key, options: featureOptions(key, value) }));
}

function featureOptions(key: string, value: unknown): Record<string, FeatureOptionValue> {
  if (typeof value === 'string') return { version: value };
  if (value === true || value === null) return {};
  if (!isRecord(value))
    throw new FeatureError(`The options of the Feature "${key}" are not an object: write them as { "<option>": "<value>" }.`);
  const options: Record<string, FeatureOptionValue> = {};
  for (const [name, v] of Object.entries(value)) {
    if (typeof v === 'string' || typeof v === 'boolean') options[name] = v;
    else if (typeof v === 'number') options[name] = String(v);
    else throw new FeatureError(`The option "${name}" of the Feature "${key}" is neither a string nor a boolean.`);
  }
  return options;
}

/**
 * Every Feature devcontainer.json asks for, plus those their `dependsOn` add, read and validated; one entry per
 * resource and options (the spec's equality), in no particular order (see order.ts).
 */
export async function resolveFeatures(
  config: Record<string, unknown>,
  configDir: string,
  download: FeatureDownloader,
  signal?: AbortSignal,
): Promise<ResolvedFeature[]> {
  const resolved: ResolvedFeature[] = [];
  const queue = featureRequests(config).map((r) => ({ ...r, from: 'devcontainer.json' }));
  for (let request = queue.shift(); request; request = queue.shift()) {
    const { source, resource } = classifyFeature(request.key, configDir);
    if (resolved.some((f) => f.resource === resource && sameOptions(f.options, request!.options))) continue;
    const files = await featureFiles(source, request.key, resource, download, signal);
    const manifest = readManifest(files, request.key);
    if (!files.some((f) => f.path === 'install.sh'))
      throw new FeatureError(`The Feature "${request.key}" has no install.sh: a Feature installs through its install.sh.`);
    resolved.push({ userId: request.key, resource, source, options: request.options, manifest, files });
    for (const [key, options] of Object.entries(manifest.dependsOn)) queue.push({ key, options, from: request.key });
  }
  return resolved;
}

export function sameOptions(a: Record<string, FeatureOptionValue>, b: Record<string, FeatureOptionValue>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

async function featureFiles(
  source: FeatureSource,
  key: string,
  resource: string,
  download: FeatureDownloader,
  signal?: AbortSignal,
): Promise<FeatureFile[]> {
  if (source === 'local') {
    const files = await readFolder(resource).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new FeatureError(
          `The Feature "${key}" is not a folder (${resource}): create it with a devcontainer-feature.json and an install.sh, or remove it from "features".`,
        );
      }
      throw e;
    });
    return files;
  }
  let archive: Buffer;
  try {
    archive = source === 'oci' ? await download.oci(key, signal) : await download.tarball(key, signal);
  } catch (e) {
    if (signal?.aborted || e instanceof UserError) throw e;
    throw new FeatureError(
      `The Feature "${key}" could not be downloaded (${e instanceof Error ? e.message : String(e)}): check the name and the network, or copy it into .devcontainer/features/.`,
    );
  }
  return untar(archive, key);
}

async function readFolder(root: string, rel = ''): Promise<FeatureFile[]> {
  const files: FeatureFile[] = [];
  const dirents = await fs.readdir(path.join(root, rel), { withFileTypes: true });
  dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of dirents) {
    const relPath = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) files.push(...(await readFolder(root, relPath)));
    else if (d.isFile()) {
      const full = path.join(root, relPath);
      const [content, stat] = await Promise.all([fs.readFile(full), fs.stat(full)]);
      files.push({ path: relPath, content, mode: stat.mode & 0o777 });
    }
  }
  return files;
}

/** The regular files of a Feature archive (gzipped or not), `./` prefixes dropped; links and devices are not kept. */
export async function untar(archive: Buffer, key: string): Promise<FeatureFile[]> {
  const data = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive) : archive;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const extract = (require('tar-stream') as typeof TarStream).extract();
  const files: FeatureFile[] = [];
  await new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        const name = path.posix
          .normalize(header.name)
          .replace(/^(\.\/)+/, '')
          .replace(/^\/+/, '');
        if (header.type === 'file' && name && name !== '.' && !name.startsWith('../'))
          files.push({ path: name, content: Buffer.concat(chunks), mode: (header.mode ?? 0o644) & 0o777 });
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', (e) => reject(new FeatureError(`The Feature "${key}" is not a readable tar archive (${e.message}).`)));
    extract.end(data);
  });
  return files;
}

function readManifest(files: FeatureFile[], key: string): FeatureManifest {
  const file = files.find((f) => f.path === 'devcontainer-feature.json');
  if (!file) throw new FeatureError(`The Feature "${key}" has no devcontainer-feature.json: add one with at least an "id".`);
  const raw = parseJsonc(file.content.toString('utf8'), `${key}/devcontainer-feature.json`);
  const where = `${key}/devcontainer-feature.json`;
  if (typeof raw.id !== 'string' || !raw.id) throw new FeatureError(`${where} has no "id": add the Feature's id (its folder name).`);
  const options: Record<string, FeatureOptionSpec> = {};
  if (isRecord(raw.options)) {
    for (const [name, spec] of Object.entries(raw.options)) {
      if (!isRecord(spec)) continue;
      options[name] = {
        ...(typeof spec.type === 'string' ? { type: spec.type } : {}),
        ...(typeof spec.default === 'string' || typeof spec.default === 'boolean' ? { default: spec.default } : {}),
      };
    }
  }
  const containerEnv: Record<string, string> = {};
  if (raw.containerEnv !== undefined) {
    if (!isRecord(raw.containerEnv)) throw new FeatureError(`${where}: "containerEnv" is not an object of strings.`);
    for (const [k, v] of Object.entries(raw.containerEnv)) {
      if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || /[\r\n]/.test(v))
        throw new FeatureError(`${where}: containerEnv "${k}" is not a variable name with a one-line string value.`);
      containerEnv[k] = v;
    }
  }
  const dependsOn: Record<string, Record<string, FeatureOptionValue>> = {};
  if (isRecord(raw.dependsOn)) for (const [k, v] of Object.entries(raw.dependsOn)) dependsOn[k] = featureOptions(k, v);
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
  return {
    id: raw.id,
    ...(typeof raw.version === 'string' ? { version: raw.version } : {}),
    options,
    containerEnv,
    installsAfter: strings(raw.installsAfter),
    dependsOn,
    legacyIds: strings(raw.legacyIds),
    raw,
  };
}
