// What a build is about to send that it should not: secret-looking files and single huge files, found in the scan
// the build makes anyway (no second walk), each with the .dockerignore line that keeps it out.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomicWrite';
import type { ContextScan } from '../docker/buildContext';
import { UserError } from '../errors';
import { formatBytes } from '../format';

/** A file bigger than this is named on its own: weights and datasets rarely belong in the image (SI, as docker prints). */
export const LARGE_FILE_BYTES = 100 * 1000 ** 2;

/** A file (or, for a folder of credentials, the folder with a trailing slash) the build context should not hold. */
export interface ContextFinding {
  /** Relative to the context root, forward slashes; a folder ends in `/`. */
  path: string;
  kind: 'secret' | 'large';
  /** The file's size; for a folder, its files' together. */
  bytes: number;
  /** The .dockerignore line that keeps exactly this out of the context. */
  ignoreLine: string;
}

// The scaffold's .dockerignore (templates/common/dockerignore) ignores every one of these; a unit test holds them
// together. Public keys (.pub) and committed examples of .env are not secrets.
const SECRET_FILE = [
  /^\.env$/,
  /^\.env\.(?!(example|sample|template|dist)$).+$/,
  /\.(pem|key|p12|pfx)$/,
  /^id_(rsa|ed25519|ecdsa)(?!.*\.pub$)/,
  /^\.netrc$/,
  /^\.git-credentials$/,
  /^\.pypirc$/,
  /^credentials\.json$/,
  /^service-account.*\.json$/,
];
const SECRET_DIRS = new Set(['.ssh', '.kaggle', '.aws', '.huggingface']);

export class LeakyContextError extends UserError {
  constructor(
    readonly findings: readonly ContextFinding[],
    readonly contextRoot: string,
  ) {
    super(
      `Not building: the build context holds ${findings.map(describeFinding).join('; ')}. ` +
        `Add ${findings.length === 1 ? 'this line' : 'these lines'} to .dockerignore: ${findings.map((f) => f.ignoreLine).join(', ')} (or build without strict mode).`,
    );
    this.name = 'LeakyContextError';
  }
}

/** Secret-looking files and files over `largeBytes` among what the scan will send, in the scan's order. */
export function checkContext(scan: ContextScan, largeBytes = LARGE_FILE_BYTES): ContextFinding[] {
  const findings: ContextFinding[] = [];
  const folders = new Map<string, ContextFinding>();
  for (const e of scan.entries) {
    if (e.type === 'directory') continue;
    const parts = e.path.split('/');
    const dirAt = parts.slice(0, -1).findIndex((p) => SECRET_DIRS.has(p));
    if (dirAt >= 0) {
      const folder = `${parts.slice(0, dirAt + 1).join('/')}/`;
      const found = folders.get(folder);
      if (found) {
        found.bytes += e.size;
      } else {
        const finding: ContextFinding = { path: folder, kind: 'secret', bytes: e.size, ignoreLine: ignoreLineFor(folder) };
        folders.set(folder, finding);
        findings.push(finding);
      }
      continue;
    }
    const name = parts[parts.length - 1] ?? '';
    if (SECRET_FILE.some((r) => r.test(name))) {
      findings.push({ path: e.path, kind: 'secret', bytes: e.size, ignoreLine: ignoreLineFor(e.path) });
    } else if (e.type === 'file' && e.size > largeBytes) {
      findings.push({ path: e.path, kind: 'large', bytes: e.size, ignoreLine: ignoreLineFor(e.path) });
    }
  }
  return findings;
}

/** "`.env` (looks like a secret)", "`outputs/model.pt` (1.2 GB)". */
export function describeFinding(f: ContextFinding): string {
  return `${f.path} (${f.kind === 'secret' ? 'looks like a secret' : formatBytes(f.bytes)})`;
}

/** The warning for one finding, with the exact line to add: what the CLI prints and the log keeps. */
export function findingWarning(f: ContextFinding): string {
  const what = f.kind === 'secret' ? 'looks like a secret' : `is ${formatBytes(f.bytes)}`;
  return `${f.path} ${what} and goes into the image (and with it to any registry it is pushed to); add this line to .dockerignore: ${f.ignoreLine}`;
}

/**
 * Appends the lines to the context's .dockerignore, creating it when absent: the user's lines stay as they are, and
 * the file is replaced in one rename. A line already there is added again only when a later `!` rule could undo it
 * (the last matching rule wins). Returns the lines written.
 */
export async function addToDockerignore(contextRoot: string, lines: readonly string[]): Promise<string[]> {
  const file = path.join(contextRoot, '.dockerignore');
  const existing = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  const eol = existing.includes('\r\n') ? '\r\n' : '\n';
  const rules = existing.split(/\r?\n/).map((l) => l.trim());
  const lastNegation = rules.map((l) => l.startsWith('!')).lastIndexOf(true);
  const effective = new Set(rules.slice(lastNegation + 1));
  const missing = [...new Set(lines)].filter((l) => !effective.has(l));
  if (missing.length === 0) return [];
  const sep = existing === '' || existing.endsWith('\n') ? '' : eol;
  await writeFileAtomic(file, `${existing}${sep}${missing.join(eol)}${eol}`);
  return missing;
}

/**
 * A .dockerignore line matching exactly this path: glob characters escaped, and a leading `#` or `!` too (moby
 * strips a leading `/` before it looks for `!`, so only the escape makes them literal).
 */
export function ignoreLineFor(relative: string): string {
  return relative.replace(/[\\*?[]/g, (c) => `\\${c}`).replace(/^[#!]/, (c) => `\\${c}`);
}
