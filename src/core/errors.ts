/**
 * An error whose message is the whole story for the user: what went wrong and what to do next. The shells show it
 * as it is, without a stack (the CLI exits 1 with it); anything else that escapes a command is a bug to report.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
