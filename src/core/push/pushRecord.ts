// Which registry digests of an image are real. Docker records a RepoDigest only when an image is pushed or pulled;
// Podman gives every local image one (`localhost/x@sha256:…`, `docker.io/library/x@sha256:…` for a build), so on
// Podman only the digests `mlc push` got back from a registry count.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { tryParseReference } from '../reference';

/** One push, as the registry answered it: the local image and `host/repo@sha256:…`. */
interface PushedLine {
  imageId: string;
  digestRef: string;
}

/** `$XDG_STATE_HOME/ml-containers/pushed.jsonl` (default `~/.local/state/…`): per user, as the engine's images are. */
export function pushRecordFile(env: Readonly<Record<string, string | undefined>>, home: string): string {
  return path.join(env.XDG_STATE_HOME || path.join(home, '.local', 'state'), 'ml-containers', 'pushed.jsonl');
}

/** Appends the pushes of one image (`host/repo:tag@sha256:…` as pushExperimentImage returns them). */
export async function recordPushes(file: string, imageId: string, references: readonly string[]): Promise<void> {
  const lines = references.map((r) => {
    const [name = '', digest = ''] = r.split('@');
    const ref = tryParseReference(name);
    return JSON.stringify({ imageId, digestRef: `${ref ? `${ref.registry}/${ref.path}` : name}@${digest}` } satisfies PushedLine);
  });
  if (!lines.length) return;
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.appendFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
}

/** The `host/repo@sha256:…` pushes recorded for an image; none when the file is missing or a line is not ours. */
export async function recordedPushes(file: string, imageId: string): Promise<string[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Partial<PushedLine>;
      return parsed.imageId === imageId && typeof parsed.digestRef === 'string' ? [parsed.digestRef] : [];
    } catch {
      return [];
    }
  });
}

/**
 * The image's digests in registries it was really pushed to or pulled from. On Docker, its RepoDigests. On Podman,
 * those that `mlc push` recorded: Podman's own RepoDigests name local images too.
 */
export function registryDigests(repoDigests: readonly string[], podman: boolean, pushed: readonly string[]): string[] {
  if (!podman) return [...repoDigests];
  const key = (d: string): string => {
    const [name = '', digest = ''] = d.split('@');
    const ref = tryParseReference(name);
    return `${ref ? `${ref.registry}/${ref.path}` : name}@${digest}`;
  };
  const real = new Set(pushed.map(key));
  return repoDigests.filter((d) => real.has(key(d)));
}
