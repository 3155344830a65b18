// The user's consent to what an image's devcontainer.metadata asks (core/container/imagePrivileges.ts), kept in one
// host-side file per user, outside every workspace (containers see the workspace, never this file).
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomicWrite';
import { isRecord } from '../json';

/** Whose privileges from an image's devcontainer.metadata apply: built by runtimeSettings. */
export interface ImageConsent {
  /** devcontainer.json's `features` keys, as written (ghcr.io/devcontainers/features/common-utils:2, ./features/x). */
  features: string[];
  /** Image ids whose metadata privileges the user agreed to (the file below). */
  allowed: string[];
  /** `--allow-image-privileges`: agreed to for whatever image this command uses; remembered in `file` where one is used. */
  allowThis?: boolean;
  /** The host-side list of agreed image ids (imagePrivilegesFile); none where no config folder is known. */
  file?: string;
}

/**
 * `$XDG_CONFIG_HOME/ml-containers/image-privileges.json` (default `~/.config/…`): per user, on the host. Undefined
 * where the environment names no home (nothing is remembered then), so a command never guesses another user's.
 */
export function imagePrivilegesFile(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const home = env.HOME || env.USERPROFILE;
  const config = env.XDG_CONFIG_HOME || (home ? path.join(home, '.config') : undefined);
  return config && path.isAbsolute(config) ? path.join(config, 'ml-containers', 'image-privileges.json') : undefined;
}

interface ConsentFile {
  images: Record<string, { asked: string; allowed: string }>;
}

/** Far more than a person agrees to; a bigger file is not ours and counts as none. */
const MAX_FILE_BYTES = 1024 * 1024;

async function readConsent(file: string): Promise<ConsentFile> {
  try {
    const stat = await fs.lstat(file);
    if (!stat.isFile() || stat.size > MAX_FILE_BYTES) return { images: {} };
    const parsed: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    if (!isRecord(parsed) || !isRecord(parsed.images)) return { images: {} };
    const images = Object.fromEntries(
      Object.entries(parsed.images).flatMap(([id, v]) =>
        /^(sha256:)?[0-9a-f]{64}$/.test(id) && isRecord(v)
          ? [[id, { asked: String(v.asked ?? ''), allowed: String(v.allowed ?? '') }]]
          : [],
      ),
    );
    return { images };
  } catch {
    // Missing or unreadable: nothing agreed to yet.
    return { images: {} };
  }
}

/** The image ids the user agreed to. */
export async function allowedImages(file: string): Promise<string[]> {
  return Object.keys((await readConsent(file)).images);
}

/** Remembers that the user agreed to what the image asks (`asked`, kept for the person reading the file). */
export async function rememberImagePrivileges(file: string, imageId: string, asked: string, now: Date = new Date()): Promise<void> {
  const consent = await readConsent(file);
  consent.images[imageId] = { asked, allowed: now.toISOString() };
  await writeFileAtomic(file, `${JSON.stringify(consent, null, 2)}\n`);
}
