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
