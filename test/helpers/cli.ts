import type { CliIO } from '../../src/cli/io';
import { runCli } from '../../src/cli/main';

/** CLI streams that keep every line, with an empty environment. */
export function recordingIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l), env: {} };
}

/**
 * Runs `mlc args` in this process (src/cli, no build needed), with `env` as its whole environment; stdout and stderr
 * come back joined by newlines.
 */
export async function mlcInProcess(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const io = { ...recordingIO(), env };
  const code = await runCli(args, io, new AbortController().signal);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}
