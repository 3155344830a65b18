import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { WORKSPACE_IN_CONTAINER } from './container/workspace';
import { substituteVariables } from './devcontainerVariables';
import type { ImageDetails } from './docker/engine';
import { UserError } from './errors';
import { isRecord } from './json';
import { DIRTY_LABEL, REVISION_LABEL } from './labels';
import { imageName } from './reference';
import type { Catalog } from './scaffold/catalog';
import { parseJsonc } from './scaffold/mergeDevcontainer';
import { optionalCatalog } from './scaffold/templateFiles';

export const DEFAULT_DEVCONTAINER = path.join('.devcontainer', 'devcontainer.json');
/** The spec's fixed places, in the official CLI's order: the first that exists is its default (and ours). */
const FIXED_LOCATIONS = ['.devcontainer/devcontainer.json', '.devcontainer.json'];

export class AmbiguousDevcontainerError extends UserError {
  constructor(readonly candidates: readonly string[]) {
    super(
      `This folder has ${candidates.length} dev container configurations (${candidates.join(', ')}): choose one with --devcontainer PATH.`,
    );
    this.name = 'AmbiguousDevcontainerError';
  }
}

/**
 * The devcontainer.json files the spec allows in folder, relative with forward slashes: .devcontainer/devcontainer.json,
 * .devcontainer.json, then .devcontainer/<name>/devcontainer.json by name.
 */
export async function findDevcontainerConfigs(folder: string): Promise<string[]> {
  const root = path.resolve(folder);
  const isFile = (rel: string): Promise<boolean> =>
    fs.stat(path.join(root, rel)).then(
      (s) => s.isFile(),
      () => false,
    );
  const subfolders = (await fs.readdir(path.join(root, '.devcontainer'), { withFileTypes: true }).catch(() => []))
    .filter((d) => d.isDirectory())
    .map((d) => `.devcontainer/${d.name}/devcontainer.json`)
    .sort();
  const all = [...FIXED_LOCATIONS, ...subfolders];
  const exists = await Promise.all(all.map(isFile));
  return all.filter((_, i) => exists[i]);
}

/**
 * Which of the candidates a command uses when none was chosen: the official CLI's default (the first fixed location
 * that exists), else the only subfolder configuration; several subfolder ones and no default is ambiguous.
 */
export function defaultDevcontainer(candidates: readonly string[]): string | AmbiguousDevcontainerError | undefined {
  const fixed = candidates.find((c) => FIXED_LOCATIONS.includes(c));
  if (fixed) return fixed;
  if (candidates.length > 1) return new AmbiguousDevcontainerError(candidates);
  return candidates[0];
}

/** The experiment image repository for a project: its devcontainer.json `name`, else the folder's name. */
function projectImageName(config: Record<string, unknown> | undefined, folder: string): string {
  return imageName(typeof config?.name === 'string' ? config.name : path.basename(path.resolve(folder)));
}

/**
 * A project folder as every command sees it: its devcontainer.json located, read, parsed and its variables
 * substituted once, the image it builds, and the preset catalog. devcontainerPath, config, imageName and imageRef
 * throw on reading when devcontainer.json is malformed (InvalidJsoncError) or the folder has several and none was
 * chosen (AmbiguousDevcontainerError): a caller that was given an image of its own is not stopped by the file.
 */
export interface Project {
  /** The folder, absolute. */
  readonly folder: string;
  /** devcontainer.json's path, absolute (the file may not exist). */
  readonly devcontainerPath: string;
  /** Every devcontainer.json the spec allows in the folder (relative, forward slashes), for a picker. */
  readonly candidates: readonly string[];
  /**
   * devcontainer.json, parsed, with its variables substituted (substituteVariables); undefined when the folder has
   * none.
   */
  readonly config: Record<string, unknown> | undefined;
  /**
   * devcontainer.json, parsed, its variables as written: what runtime settings read (they substitute on their own,
   * knowing which values came from this machine and so are secret) and what labels may hold.
   */
  readonly rawConfig: Record<string, unknown> | undefined;
  /** The experiment image repository: devcontainer.json `name`, else the folder's name. */
  readonly imageName: string;
  /** `<imageName>:latest`, the tag every build moves. */
  readonly imageRef: string;
  /** The preset catalog for hints (an image's CUDA, a preset's setup); undefined when no templates folder was given or it cannot be read. */
  readonly catalog: Catalog | undefined;
}

export interface OpenProjectOptions {
  /**
   * devcontainer.json, relative to the folder (or absolute); default: the one the folder has, as
   * defaultDevcontainer chooses.
   */
  devcontainer?: string | undefined;
  /** templates/, where the catalog comes from; without it, no catalog. */
  templatesDir?: string | undefined;
  /** The environment ${localEnv:…} reads; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Reads the project in folder: devcontainer.json once, and the catalog when templatesDir is given. */
export async function openProject(folder: string, options: OpenProjectOptions = {}): Promise<Project> {
  const root = path.resolve(folder);
  const [candidates, catalog] = await Promise.all([
    findDevcontainerConfigs(root),
    options.templatesDir === undefined ? undefined : optionalCatalog(options.templatesDir),
  ]);
  const chosen = options.devcontainer ?? defaultDevcontainer(candidates) ?? DEFAULT_DEVCONTAINER;
  const ambiguous = typeof chosen === 'string' ? undefined : chosen;
  const file = typeof chosen === 'string' ? path.resolve(root, chosen) : undefined;
  const text = file === undefined ? undefined : await fs.readFile(file, 'utf8').catch(() => undefined);
  let parsed: { config: Record<string, unknown> | undefined; raw: Record<string, unknown> | undefined } | { error: unknown };
  try {
    if (ambiguous || file === undefined) throw ambiguous;
    parsed = {
      raw: text === undefined ? undefined : parseJsonc(text, path.relative(root, file)),
      config:
        text === undefined
          ? undefined
          : substituteVariables(parseJsonc(text, path.relative(root, file)), {
              localWorkspaceFolder: root,
              // mlc's containers have the folder at /workspace, whatever workspaceFolder says.
              containerWorkspaceFolder: WORKSPACE_IN_CONTAINER,
              configFile: file,
              env: options.env ?? process.env,
            }),
    };
  } catch (error) {
    parsed = { error };
  }
  const config = (): Record<string, unknown> | undefined => {
    if ('error' in parsed) throw parsed.error;
    return parsed.config;
  };
  return {
    folder: root,
    get devcontainerPath() {
      if (ambiguous || file === undefined) throw ambiguous;
      return file;
    },
    candidates,
    get config() {
      return config();
    },
    get rawConfig() {
      config();
      return 'raw' in parsed ? parsed.raw : undefined;
    },
    get imageName() {
      return projectImageName(config(), root);
    },
    get imageRef() {
      return `${projectImageName(config(), root)}:latest`;
    },
    catalog,
  };
}

/**
 * `<name>:latest` for the project in folder, the tag every build moves. A malformed devcontainer.json, or several and
 * none chosen, throws.
 */
export async function latestProjectImage(folder: string, devcontainer?: string): Promise<string> {
  return (await openProject(folder, { devcontainer })).imageRef;
}

export interface ProjectStatus {
  /** devcontainer.json exists (and parses). */
  configured: boolean;
  /** containerEnv.MLC_PRESET / MLC_VARIANT, which the scaffold writes. */
  preset?: string;
  variant?: string;
  /** `<name>:latest`. */
  imageRef: string;
  /** The image behind imageRef, when the engine was asked and has it. */
  image?: { id: string; revision?: string; dirty: boolean };
}

/** What the status bar shows for a folder: its preset from devcontainer.json and, given an engine, its latest image. */
export async function projectStatus(
  folder: string,
  inspect?: (ref: string) => Promise<ImageDetails | undefined>,
  devcontainer?: string,
): Promise<ProjectStatus> {
  const project = await openProject(folder, { devcontainer });
  const config = project.config;
  const env = isRecord(config?.containerEnv) ? config.containerEnv : {};
  const imageRef = project.imageRef;
  const details = config && inspect ? await inspect(imageRef) : undefined;
  return {
    configured: config !== undefined,
    ...(typeof env.MLC_PRESET === 'string' ? { preset: env.MLC_PRESET } : {}),
    ...(typeof env.MLC_VARIANT === 'string' ? { variant: env.MLC_VARIANT } : {}),
    imageRef,
    ...(details
      ? {
          image: {
            id: details.id,
            ...(details.labels[REVISION_LABEL] ? { revision: details.labels[REVISION_LABEL] } : {}),
            dirty: details.labels[DIRTY_LABEL] === 'true',
          },
        }
      : {}),
  };
}
