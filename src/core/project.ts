import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { imageName } from './provenance/labels';
import { parseJsonc } from './scaffold/mergeDevcontainer';

export const DEFAULT_DEVCONTAINER = path.join('.devcontainer', 'devcontainer.json');

/** The experiment image repository for a project: its devcontainer.json `name`, else the folder's name. */
export function projectImageName(config: Record<string, unknown> | undefined, folder: string): string {
  return imageName(typeof config?.name === 'string' ? config.name : path.basename(path.resolve(folder)));
}

/** `<name>:latest` for the project in folder, the tag every build moves. A malformed devcontainer.json throws. */
export async function latestProjectImage(folder: string, devcontainer = DEFAULT_DEVCONTAINER): Promise<string> {
  const file = path.join(folder, devcontainer);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  const config = text === undefined ? undefined : parseJsonc(text, path.relative(folder, file));
  return `${projectImageName(config, folder)}:latest`;
}
