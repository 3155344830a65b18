// The bundled CLI as users run it: the Docker tier runs dist/cli.js in a child process, never src/cli in-process.
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '../../dist/cli.js');

export interface MlcOptions {
  cwd?: string;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export interface MlcResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function assertBuiltCli(): void {
  assert.ok(fs.existsSync(CLI), 'dist/cli.js is missing: run `npm run build` first');
}

/** Runs `mlc args` to the end; a non-zero exit is a result, not a rejection. */
export function mlc(args: string[], options: MlcOptions = {}): Promise<MlcResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: options.timeoutMs },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Starts `mlc args` and hands back the process, for tests that signal it while it runs. */
export function mlcProcess(args: string[], options: Omit<MlcOptions, 'timeoutMs'> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
