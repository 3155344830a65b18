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

export type Subcommand = (args: string[], io: CliIO, signal: AbortSignal) => Promise<number>;

/** Runs a parser of option values, turning its error into a usage error (exit code 2). */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}
