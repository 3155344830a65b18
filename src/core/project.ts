import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ImageDetails } from './docker/engine';
import { isRecord } from './json';
import { DIRTY_LABEL, REVISION_LABEL } from './labels';
import { imageName } from './reference';
import { parseJsonc } from './scaffold/mergeDevcontainer';

export const DEFAULT_DEVCONTAINER = path.join('.devcontainer', 'devcontainer.json');

/** The experiment image repository for a project: its devcontainer.json `name`, else the folder's name. */
export function projectImageName(config: Record<string, unknown> | undefined, folder: string): string {
  return imageName(typeof config?.name === 'string' ? config.name : path.basename(path.resolve(folder)));
}

/** `<name>:latest` for the project in folder, the tag every build moves. A malformed devcontainer.json throws. */
export async function latestProjectImage(folder: string, devcontainer = DEFAULT_DEVCONTAINER): Promise<string> {
  return `${projectImageName(await readDevcontainer(folder, devcontainer), folder)}:latest`;
}

/** The folder's devcontainer.json, parsed; undefined when there is none; a malformed one throws. */
async function readDevcontainer(folder: string, devcontainer: string): Promise<Record<string, unknown> | undefined> {
  const file = path.join(folder, devcontainer);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseJsonc(text, path.relative(folder, file));
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
  const config = await readDevcontainer(folder, DEFAULT_DEVCONTAINER);
  const env = isRecord(config?.containerEnv) ? config.containerEnv : {};
  const imageRef = `${projectImageName(config, folder)}:latest`;
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
