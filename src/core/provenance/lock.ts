import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomicWrite';
import type { Engine, ImageDetails } from '../docker/engine';

/** Where environment locks live in a project: one file per image id. */
export const LOCK_DIR = path.join('.mlcontainers', 'locks');
/** Where an experiment image carries its own lock, so it travels with the image (its sha256: LOCK_SHA256_LABEL). */
export const IMAGE_LOCK_PATH = '/etc/mlc/environment.lock';

export interface PackageDiff {
  added: { name: string; version: string }[];
  removed: { name: string; version: string }[];
  changed: { name: string; from: string; to: string }[];
}

/** The lock's line for the GPU architectures of the image's PyTorch; `none` for a build without CUDA. */
const ARCHS_LINE = '# torch cuda archs: ';

/**
 * The compiled-in architectures, asked without a GPU: torch.cuda.get_arch_list() answers [] whenever no device is
 * visible, as in a build, so the flags are read directly. A CPU-only build says so in torch/version.py (`cuda =
 * None`), read without importing torch, which takes seconds (1.5 s for Debian's CPU torch here). No torch: no line.
 */
const ARCHS_SCRIPT = `python3 - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec('torch')
if spec is not None and spec.origin:
    version = {}
    try:
        with open(os.path.join(os.path.dirname(spec.origin), 'version.py')) as f:
            exec(f.read(), version)
    except Exception:
        pass
    if 'cuda' in version and version['cuda'] is None:
        archs = []
    else:
        import torch
        f = getattr(torch._C, '_cuda_getArchFlags', None)
        archs = (f() or '').split() if f and torch.version.cuda else []
    print('${ARCHS_LINE}' + (' '.join(archs) or 'none'))
PY`;

/**
 * pip, conda and torch's architectures are asked at once, each into a file of its own, and printed in that order
 * (a lock's lines do not depend on which finished first). pip's own complaints go to stderr, the others' nowhere.
 * Where no temporary folder can be made (a read-only /tmp), one after the other, as before.
 */
const PIP = '(python3 -m pip freeze --all 2>/dev/null || pip freeze --all)';
const CONDA = '(if command -v conda >/dev/null 2>&1; then echo "# conda"; conda list --export; fi)';
const LOCK_SCRIPT = `d="\${TMPDIR:-/tmp}/mlc-lock.$$"
if mkdir -p "$d" 2>/dev/null; then
${PIP} >"$d/pip" 2>"$d/pip.err" &
${CONDA} >"$d/conda" 2>/dev/null &
(${ARCHS_SCRIPT}
) >"$d/archs" 2>/dev/null &
wait
cat "$d/pip" "$d/conda" "$d/archs"; cat "$d/pip.err" >&2; rm -rf "$d"
else
${PIP}; ${CONDA} 2>/dev/null; (${ARCHS_SCRIPT}
) 2>/dev/null
fi`;

/**
 * Captures what is installed in an image: `pip freeze`, plus `conda list --export` where conda exists, plus the GPU
 * architectures of its PyTorch where it has one, the three at once. Runs in a throw-away container without network.
 */
export async function captureLock(engine: Engine, image: string, signal?: AbortSignal): Promise<string> {
  const { exitCode, stdout, stderr } = await engine.runCapture(image, ['sh', '-c', LOCK_SCRIPT], signal);
  if (exitCode !== 0 && !stdout.trim()) {
    throw new Error(`Could not list the packages in ${image} (exit ${exitCode}): ${stderr.trim().split('\n').pop() ?? ''}`);
  }
  // `pkg @ git+https://user:token@host/…` lines: the lock goes into the image and to registries, never a credential.
  return stdout.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1');
}

/**
 * The GPU architectures the lock recorded for the image's PyTorch: ["sm_80", "sm_90"], [] for a CPU-only build,
 * undefined when the image has no PyTorch or the lock predates the record.
 */
export function lockArchs(text: string): string[] | undefined {
  const line = text.split(/\r?\n/).find((l) => l.startsWith(ARCHS_LINE));
  if (line === undefined) return undefined;
  const list = line.slice(ARCHS_LINE.length).trim();
  return list === 'none' ? [] : list.split(/\s+/).filter(Boolean);
}

export function lockPath(folder: string, imageId: string): string {
  return path.join(folder, LOCK_DIR, `${imageId.replace(/^sha256:/, '')}.txt`);
}

/** Writes the lock atomically, with a header naming the image. */
export async function writeLock(folder: string, imageId: string, tags: string[], packages: string): Promise<string> {
  const file = lockPath(folder, imageId);
  await writeFileAtomic(file, `# image ${imageId}\n# tags ${tags.join(' ')}\n${packages.endsWith('\n') ? packages : `${packages}\n`}`);
  return file;
}

/** name → version from pip freeze (`a==1`, `a @ url`) and conda export (`a=1=build`) lines. */
export function parseLock(text: string): Map<string, string> {
  const packages = new Map<string, string>();
  let section = 'pip';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '# conda') section = 'conda';
    if (!line || line.startsWith('#') || line.startsWith('-e ')) continue;
    const pip = /^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==\s*(\S+)|@\s*(\S+))/.exec(line);
    const conda = section === 'conda' ? /^([^=\s]+)=([^=\s]+)/.exec(line) : null;
    if (conda) {
      packages.set(`conda:${conda[1]}`, conda[2] ?? '');
    } else if (pip) {
      packages.set(pip[1]!.toLowerCase().replace(/[-_.]+/g, '-'), pip[2] ?? pip[3] ?? '');
    }
  }
  return packages;
}

export function diffLocks(a: Map<string, string>, b: Map<string, string>): PackageDiff {
  const diff: PackageDiff = { added: [], removed: [], changed: [] };
  for (const [name, version] of b) {
    const before = a.get(name);
    if (before === undefined) diff.added.push({ name, version });
    else if (before !== version) diff.changed.push({ name, from: before, to: version });
  }
  for (const [name, version] of a) if (!b.has(name)) diff.removed.push({ name, version });
  const byName = (x: { name: string }, y: { name: string }): number => x.name.localeCompare(y.name);
  diff.added.sort(byName);
  diff.removed.sort(byName);
  diff.changed.sort(byName);
  return diff;
}

export function formatDiff(diff: PackageDiff): string[] {
  return [
    ...diff.added.map((p) => `+ ${p.name}==${p.version}`),
    ...diff.removed.map((p) => `- ${p.name}==${p.version}`),
    ...diff.changed.map((p) => `~ ${p.name} ${p.from} -> ${p.to}`),
  ];
}

/** The lock an image carries at IMAGE_LOCK_PATH; undefined for an image built without one (or before they were). */
export async function readImageLock(engine: Engine, imageId: string, signal?: AbortSignal): Promise<string | undefined> {
  // test -f first: a missing file is an answer, not an error, and `cat` would say so only on stderr.
  const { exitCode, stdout } = await engine.runCapture(
    imageId,
    ['sh', '-c', `test -f ${IMAGE_LOCK_PATH} && cat ${IMAGE_LOCK_PATH}`],
    signal,
  );
  return exitCode === 0 ? stdout : undefined;
}

/**
 * The lock of an image without capturing one: the project's copy, else the one inside the image (a pulled image on
 * another machine), which is then kept in the project as the next answer and for editors that diff files.
 */
export async function findLock(
  engine: Engine,
  folder: string,
  image: ImageDetails,
  signal?: AbortSignal,
): Promise<{ text: string; source: 'project' | 'image' } | undefined> {
  const local = await fs.readFile(lockPath(folder, image.id), 'utf8').catch(() => undefined);
  if (local !== undefined) return { text: local, source: 'project' };
  const inImage = await readImageLock(engine, image.id, signal);
  if (inImage === undefined) return undefined;
  await writeLock(folder, image.id, image.repoTags, inImage);
  return { text: inImage, source: 'image' };
}

/** The lock of an image: the project's, else the image's own, else captured (and kept) from the image. */
export async function lockFor(
  engine: Engine,
  folder: string,
  ref: string,
  signal?: AbortSignal,
): Promise<{ imageId: string; text: string }> {
  const image = await engine.inspectImage(ref, signal);
  if (!image) {
    throw new Error(`No image ${ref}: check the name with \`docker images\` or \`mlc ls\`.`);
  }
  const found = await findLock(engine, folder, image, signal);
  if (found) return { imageId: image.id, text: found.text };
  const text = await captureLock(engine, image.id, signal);
  await writeLock(folder, image.id, image.repoTags, text);
  return { imageId: image.id, text };
}
