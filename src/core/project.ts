import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ImageDetails } from './docker/engine';
import { isRecord } from './json';
import { DIRTY_LABEL, REVISION_LABEL } from './labels';
import { imageName } from './reference';
import type { Catalog } from './scaffold/catalog';
import { parseJsonc } from './scaffold/mergeDevcontainer';
import { optionalCatalog } from './scaffold/templateFiles';

export const DEFAULT_DEVCONTAINER = path.join('.devcontainer', 'devcontainer.json');

/** The experiment image repository for a project: its devcontainer.json `name`, else the folder's name. */
function projectImageName(config: Record<string, unknown> | undefined, folder: string): string {
  return imageName(typeof config?.name === 'string' ? config.name : path.basename(path.resolve(folder)));
}

/**
 * A project folder as every command sees it: its devcontainer.json read and parsed once, the image it builds, and
 * the preset catalog. config, imageName and imageRef throw InvalidJsoncError when devcontainer.json is malformed, on
 * reading: a caller that was given an image of its own is not stopped by the file.
 */
export interface Project {
  /** The folder, absolute. */
  readonly folder: string;
  /** devcontainer.json's path, absolute (the file may not exist). */
  readonly devcontainerPath: string;
  /** devcontainer.json, parsed; undefined when the folder has none. */
  readonly config: Record<string, unknown> | undefined;
  /** The experiment image repository: devcontainer.json `name`, else the folder's name. */
  readonly imageName: string;
  /** `<imageName>:latest`, the tag every build moves. */
  readonly imageRef: string;
  /** The preset catalog for hints (an image's CUDA, a preset's setup); undefined when no templates folder was given or it cannot be read. */
  readonly catalog: Catalog | undefined;
}

export interface OpenProjectOptions {
  /** devcontainer.json, relative to the folder; default .devcontainer/devcontainer.json. */
  devcontainer?: string | undefined;
  /** templates/, where the catalog comes from; without it, no catalog. */
  templatesDir?: string | undefined;
}

/** Reads the project in folder: devcontainer.json once, and the catalog when templatesDir is given. */
export async function openProject(folder: string, options: OpenProjectOptions = {}): Promise<Project> {
  const root = path.resolve(folder);
  const file = path.join(root, options.devcontainer ?? DEFAULT_DEVCONTAINER);
  const [text, catalog] = await Promise.all([
    fs.readFile(file, 'utf8').catch(() => undefined),
    options.templatesDir === undefined ? undefined : optionalCatalog(options.templatesDir),
  ]);
  let parsed: { config: Record<string, unknown> | undefined } | { error: unknown };
  try {
    parsed = { config: text === undefined ? undefined : parseJsonc(text, path.relative(root, file)) };
  } catch (error) {
    parsed = { error };
  }
  const config = (): Record<string, unknown> | undefined => {
    if ('error' in parsed) throw parsed.error;
    return parsed.config;
  };
  return {
    folder: root,
    devcontainerPath: file,
    get config() {
      return config();
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

/** `<name>:latest` for the project in folder, the tag every build moves. A malformed devcontainer.json throws. */
export async function latestProjectImage(folder: string, devcontainer = DEFAULT_DEVCONTAINER): Promise<string> {
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
export async function projectStatus(folder: string, inspect?: (ref: string) => Promise<ImageDetails | undefined>): Promise<ProjectStatus> {
  const project = await openProject(folder);
  const config = project.config;
  const env = isRecord(config?.containerEnv) ? config.containerEnv : {};
  const imageRef = project.imageRef;
  const details = config && inspect ? await inspect(imageRef) : undefined;
  return {
    configured: config !== undefined,
    ...(typeof env.MLC_PRESET === 'string' ? { preset: env.MLC_PRESET } : {}),
    ...(typeof env.MLC_VARIANT === 'string' ? { variant: env.MLC_VARIANT } : {}),
    imageRef,
    ...(details ? {
      image: {
        id: details.id,
        ...(details.labels[REVISION_LABEL] ? { revision: details.labels[REVISION_LABEL] } : {}),
        dirty: details.labels[DIRTY_LABEL] === 'true',
      },
    } : {}),
  };
}
