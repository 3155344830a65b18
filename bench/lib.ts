// Shared by the benchmarks: timing, child processes with peak RSS, and the result rows.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');

export interface Options {
  /** Smaller inputs and fewer repetitions: the whole run in under 2 minutes. */
  quick: boolean;
  /** Scratch space for generated repositories; removed afterwards. */
  scratch: string;
  log: (line: string) => void;
}

/** One line of the table: our time (or size) against the anchor users would otherwise use. */
export interface Row {
  benchmark: string;
  unit: 'ms' | 'MB' | 'KB' | 'ratio';
  ours: number;
  /** What we compare with (the docker CLI, or a fixed budget when there is nothing to compare with). */
  anchor: number | null;
  anchorName: string;
  /** ours / anchor, or ours - anchor for "within N ms" goals. */
  ratio: number | null;
  goal: string;
  pass: boolean;
  detail?: string;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface ProcessResult {
  ms: number;
  /** Peak resident set of the process, from GNU time; 0 where /usr/bin/time is missing. */
  maxRssKb: number;
  code: number;
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';

/** Runs a command to completion: wall time measured here, peak RSS through GNU time when it is installed. */
export async function measure(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ProcessResult> {
  const rssFile = path.join(os.tmpdir(), `mlc-bench-rss-${process.pid}-${Math.random().toString(16).slice(2)}`);
  const useTime = fs.existsSync(GNU_TIME);
  const [cmd, argv] = useTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, command, ...args]] : [command, [...args]];
  const start = process.hrtime.bigint();
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  let maxRssKb = 0;
  if (useTime) {
    maxRssKb = Number.parseInt(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '0', 10) || 0;
    fs.rmSync(rssFile, { force: true });
  }
  return { ms, maxRssKb, ...result };
}

/** Throws with the command's output when it failed: a benchmark of a failing command measures nothing. */
export function ok(result: ProcessResult, what: string): ProcessResult {
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code}:\n${(result.stderr || result.stdout).slice(-2000)}`);
  return result;
}

export async function timeIt<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

/**
 * The docker CLI to compare with. Debian's 20.10 CLI at /usr/bin/docker has BuildKit built in; a newer client
 * without the buildx plugin cannot build with BuildKit at all. MLC_BENCH_DOCKER picks another.
 */
export function dockerCli(): string {
  if (process.env.MLC_BENCH_DOCKER) return process.env.MLC_BENCH_DOCKER;
  return fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
}

/** "1.5MB", "512kB", "10.24MB" (as both docker builders print sizes) → bytes. */
export function parseDockerSize(text: string): number {
  const m = /([\d.]+)\s*([kKMG]?i?B)/.exec(text);
  if (!m) return Number.NaN;
  const n = Number.parseFloat(m[1]!);
  const unit = m[2]!.toUpperCase().replace('I', '');
  const scale: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9 };
  return n * (scale[unit] ?? Number.NaN);
}

/** The builds' stderr lines that say how much context was sent, for both docker builders and ours. */
export function contextBytesFromLog(text: string): number {
  const classic = /Sending build context to Docker daemon\s+([\d.]+\s*[kMG]?B)/.exec(text);
  if (classic) return parseDockerSize(classic[1]!);
  const buildkit = [...text.matchAll(/transferring context:\s+([\d.]+\s*[kMG]?B)/g)].pop();
  if (buildkit) return parseDockerSize(buildkit[1]!);
  const ours = /build context sent:\s+([\d.]+\s*[kKMG]?B)/.exec(text);
  return ours ? parseDockerSize(ours[1]!) : Number.NaN;
}

export function git(cwd: string, ...args: string[]): Promise<ProcessResult> {
  return measure('git', ['-c', 'user.name=Bench', '-c', 'user.email=bench@example.org', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
  }).then((r) => ok(r, `git ${args[0]}`));
}

/** Removes the images `docker images -q SELECTOR…` lists (a repository, or `--filter label=…`), whatever their tags. */
export async function removeImages(...selector: string[]): Promise<void> {
  const ids = (await measure(dockerCli(), ['images', '-q', ...selector])).stdout.split('\n').filter(Boolean);
  if (ids.length) await measure(dockerCli(), ['rmi', '-f', ...new Set(ids)]);
}

/** A sparse file: gigabytes of "data" that cost no disk and no time to create. */
export function sparseFile(file: string, bytes: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
}
