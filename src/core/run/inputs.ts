// The data a run reads, named in its plan and its record: the host folders mounted into it (--mount,
// devcontainer.json mounts and runArgs) and the project's files the experiment YAML lists under `inputs:`, each with
// its fingerprint (core/provenance/data.ts). Taken once per plan, before the first point starts: every point of a
// sweep saw the same data. (`inputs:`, not `data:`: `data:` is a common hyper-parameter section, the quickstart's
// own `data: {val_fraction: …}` among them.)
import * as path from 'node:path';
import type { RuntimeSettings } from '../container/runtime';
import { UserError } from '../errors';
import { hasControlCharacter, printable } from '../generatedText';
import { isRecord } from '../json';
import type { DataFingerprint } from '../provenance/data';
import { fingerprintData } from '../provenance/data';
import { loadYaml } from '../yaml';

/** The top-level key; its list names data, and is never a sweep axis. */
export const INPUTS_KEY = 'inputs';
export const MAX_INPUTS = 64;

/** One input as a plan and a record keep it. */
export interface DataInput {
  /** `mount`: a host folder mounted into the container; `inputs`: a path of the project the YAML lists. */
  from: 'mount' | 'inputs';
  /** On the host: the mount's source, or the path relative to the project. */
  source: string;
  /** Where the container sees it. */
  target: string;
  /** undefined: nothing was there when the run was planned. */
  fingerprint?: DataFingerprint;
}

export class InputsError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'InputsError';
  }
}

/** The paths `value` (the YAML's `inputs:`) lists: one path or a list, relative to the project, inside it. */
export function parseInputs(value: unknown, file: string): string[] {
  const where = `${file}: ${INPUTS_KEY}`;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.length || list.some((v) => typeof v !== 'string')) {
    throw new InputsError(`${where} must be a path or a list of paths in the project (inputs: [data/train.csv]).`);
  }
  if (list.length > MAX_INPUTS)
    throw new InputsError(`${where} lists ${list.length} paths, more than ${MAX_INPUTS}: name their folders instead.`);
  for (const p of list as string[]) {
    const parts = p.split('/');
    if (!p || hasControlCharacter(p) || p.includes('\\') || path.isAbsolute(p) || parts.includes('..')) {
      throw new InputsError(
        `${where} entry ${printable(p)} is not a path in the project: write it relative to the project folder, without .. (data/train.csv).`,
      );
    }
  }
  return [...new Set(list as string[])];
}

/** The `inputs:` of a config's text; none when it has none or is not a mapping. */
export function configInputs(text: string, file: string): string[] {
  let doc: unknown;
  try {
    doc = loadYaml().parse(text) as unknown;
  } catch {
    return [];
  }
  return isRecord(doc) && Object.hasOwn(doc, INPUTS_KEY) ? parseInputs(doc[INPUTS_KEY], file) : [];
}

/**
 * The run's inputs: every bind mount of the runtime settings (their host folders) and each `inputs:` path, with
 * their fingerprints. The project folder itself is the run's code, named by the commit, and is left out.
 */
export async function dataInputs(
  workspace: string,
  settings: Pick<RuntimeSettings, 'mounts' | 'binds'>,
  listed: readonly string[],
  workspaceTarget: string,
): Promise<DataInput[]> {
  const mounts = [
    ...settings.mounts.filter((m) => m.Type === 'bind' && m.Source).map((m) => ({ source: m.Source, target: m.Target })),
    ...settings.binds
      .map((b) => b.split(':'))
      .filter((p) => p.length >= 2 && path.isAbsolute(p[0]!))
      .map((p) => ({ source: p[0]!, target: p[1]! })),
  ].filter((m) => path.resolve(m.source) !== path.resolve(workspace));
  const out: DataInput[] = [];
  for (const m of mounts) out.push({ from: 'mount', source: m.source, target: m.target, ...(await fingerprinted(m.source)) });
  for (const rel of listed)
    out.push({
      from: 'inputs',
      source: rel,
      target: path.posix.join(workspaceTarget, rel),
      ...(await fingerprinted(path.join(workspace, rel))),
    });
  return out;
}

async function fingerprinted(source: string): Promise<{ fingerprint?: DataFingerprint }> {
  const fingerprint = await fingerprintData(source);
  return fingerprint ? { fingerprint } : {};
}

/** A short id for an input's data, as tables print it: the content id where known, else the manifest's first digits. */
export function dataId(input: DataInput): string {
  const f = input.fingerprint;
  if (!f) return 'missing';
  return f.contentId ?? `manifest:${f.manifest.slice(0, 12)}${f.truncated ? '+' : ''}`;
}

/** Whether a record's `data` has the shape we write (it is read back from a file a container can see). */
export function isDataInputList(v: unknown): v is DataInput[] {
  return (
    Array.isArray(v) &&
    v.length <= MAX_INPUTS * 2 &&
    v.every(
      (d) =>
        isRecord(d) &&
        (d.from === 'mount' || d.from === 'inputs') &&
        typeof d.source === 'string' &&
        d.source.length <= 4096 &&
        typeof d.target === 'string' &&
        d.target.length <= 4096 &&
        (d.fingerprint === undefined ||
          (isRecord(d.fingerprint) &&
            typeof d.fingerprint.manifest === 'string' &&
            /^[0-9a-f]{64}$/.test(d.fingerprint.manifest) &&
            typeof d.fingerprint.files === 'number' &&
            typeof d.fingerprint.bytes === 'number' &&
            (d.fingerprint.contentId === undefined ||
              (typeof d.fingerprint.contentId === 'string' && /^[a-z0-9-]+:[A-Za-z0-9._+-]{1,256}$/.test(d.fingerprint.contentId))))),
    )
  );
}
