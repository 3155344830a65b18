import * as fs from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomicWrite';
import type { Logger } from '../core/log';
import { createLogger } from '../core/log';

/** The CLI's streams, injected so subcommands can be tested without a terminal. */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A refusal the command words in full (no `mlc <command>:` prefix): the sentence on stderr and, with --json, as
 * {"error": …} on stdout, as runCli does for thrown errors. Returns the exit code, 1.
 */
export function refuse(io: CliIO, json: boolean, sentence: string): number {
  io.err(sentence);
  if (json) io.out(JSON.stringify({ error: sentence }));
  return 1;
}

/** The CLI's log on stderr: info lines bare, other levels prefixed with theirs, debug and trace only with MLC_DEBUG set. */
export function cliLogger(io: CliIO, component: string): Logger {
  return createLogger(
    {
      write: (level, line) =>
        (level === 'debug' || level === 'trace') && !io.env.MLC_DEBUG ? undefined : io.err(level === 'info' ? line : `${level}: ${line}`),
    },
    component,
  );
}

export type Subcommand = (args: string[], io: CliIO, signal: AbortSignal) => Promise<number>;

/** Runs a parser of option values, turning its error into a usage error (exit code 2). */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/**
 * Writes a generated file (a .def, a manifest); an existing file that differs — the user may have edited it — is
 * kept unless `force`. Returns the sentence that says so when nothing was written.
 */
export async function writeGenerated(file: string, text: string, force: boolean): Promise<string | undefined> {
  const existing = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (existing !== undefined && existing !== text && !force) {
    return `${file} exists and differs: nothing written (pass --force to replace it).`;
  }
  await writeFileAtomic(file, text);
  return undefined;
}
