// Slurm behind an interface we own: sbatch, squeue, sacct and scancel as four calls, their output parsed and their
// errors turned into one sentence each here, so the rest of core/slurm/ (and its unit tests) never see a command line.
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../../errors';

/** What Slurm says of one array task (`12_3`). */
export interface SlurmTaskState {
  /** The array job's id ("12") and the task's index (3). */
  job: string;
  task: number;
  /** PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, … ("CANCELLED by 0" → CANCELLED). */
  state: string;
  /** The script's exit code and the signal that ended it, as sacct's ExitCode "3:0" / "0:15"; null when unknown. */
  exitCode: number | null;
  signal: number | null;
  /** ISO 8601, when Slurm knows it. */
  end: string | null;
}

export interface Slurm {
  /** `sbatch --parsable --hold FILE` from `cwd` (after `--test-only`): the job id; its tasks wait until released. */
  submit(scriptFile: string, cwd: string, signal?: AbortSignal, env?: Readonly<Record<string, string>>): Promise<string>;
  /** `scontrol release JOB`: the held job's tasks may start. */
  release(job: string, signal?: AbortSignal): Promise<void>;
  /** `squeue`: the jobs' tasks slurmctld still holds (waiting, running, or ended a few minutes ago). */
  queue(jobs: readonly string[], signal?: AbortSignal): Promise<SlurmTaskState[]>;
  /** `sacct`: the jobs' tasks as accounting recorded them; undefined where accounting is off. */
  accounting(jobs: readonly string[], signal?: AbortSignal): Promise<SlurmTaskState[] | undefined>;
  /** `scancel`: whole jobs ("12") or tasks ("12_3"). */
  cancel(ids: readonly string[], signal?: AbortSignal): Promise<void>;
}

/** `controller`: slurmctld did not answer (down, restarting, unreachable); `other`: anything Slurm refused or failed. */
export type SlurmErrorReason = 'controller' | 'other';

export class SlurmError extends UserError {
  constructor(
    message: string,
    readonly reason: SlurmErrorReason = 'other',
  ) {
    super(message);
    this.name = 'SlurmError';
  }
}

/** States in which a task still holds (or waits for) its allocation; anything else has ended. */
const LIVE = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'REQUEUE_FED',
  'REQUEUE_HOLD',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
  'STOPPED',
]);

export function isLive(state: string): boolean {
  return LIVE.has(state);
}

/** What a Slurm command prints when slurmctld does not answer (sbatch gives up after about 18 s). */
const CONTROLLER_DOWN = /Unable to contact slurm controller|Connection refused|Unable to establish Slurm connection|Socket timed out/i;

/** One sentence for what sbatch, squeue, sacct or scancel printed on failure (Slurm 22.05's words). */
export function slurmErrorMessage(
  command: string,
  stderr: string,
  o: { partition?: string; gres?: string; mem?: string; cpusPerTask?: number } = {},
): string {
  const text = stderr.trim();
  const raw =
    text
      .split('\n')
      .find((l) => /error/i.test(l))
      ?.replace(/^\w+: error: /, '') ??
    text.split('\n')[0] ??
    '';
  if (CONTROLLER_DOWN.test(text)) {
    return `The Slurm controller does not answer (${command}: ${raw}): check \`sinfo\`, or ask your cluster's admins whether slurmctld is up.`;
  }
  if (/Invalid partition name/i.test(text))
    return `Slurm has no partition ${o.partition ?? 'by that name'}: \`sinfo -s\` lists the partitions you can use.`;
  if (/Requested node configuration is not available/i.test(text)) {
    const asked = [o.gres ? `--gres ${o.gres}` : '', o.mem ? `--mem ${o.mem}` : '', o.cpusPerTask ? `--cpus-per-task ${o.cpusPerTask}` : '']
      .filter(Boolean)
      .join(', ');
    return `No node in the partition can give what was asked${asked ? ` (${asked})` : ''}: \`sinfo -o '%P %c %m %G'\` shows each partition's CPUs, memory and GPUs; ask for less or pick another partition.`;
  }
  if (/Invalid generic resource|Invalid gres/i.test(text))
    return `Slurm does not know the resource in --gres ${o.gres ?? ''}: \`sinfo -o '%P %G'\` shows the GPUs (gres) each partition has.`.replace(
      ' :',
      ':',
    );
  if (/Invalid account/i.test(text))
    return 'Slurm refused the account for this partition: `sacctmgr show assoc user=$USER` lists the accounts you may use.';
  if (/time limit|--time specification/i.test(text))
    return 'Slurm refused the time limit: give --time as minutes, MM:SS, HH:MM:SS or D-HH:MM:SS, within the partition\'s limit (`sinfo -o "%P %l"`).';
  if (/memory specification/i.test(text))
    return 'Slurm refused the memory request: give --mem as 4G or 500M, within what a node has (`sinfo -o "%P %m"`).';
  return `${command} failed: ${raw || 'no message'}.`;
}

/** `sbatch --parsable` prints "12" or "12;cluster". */
export function parseSubmit(stdout: string): string {
  const id = /^(\d+)/.exec(stdout.trim())?.[1];
  if (!id) throw new SlurmError(`sbatch printed no job id (${stdout.trim() || 'nothing'}): check \`squeue --me\`.`);
  return id;
}

/** `squeue -h -r -t all -o '%i|%T'` lines, e.g. "12_3|RUNNING". Tasks not yet split off ("12_[4-9]") are skipped. */
export function parseQueue(stdout: string): SlurmTaskState[] {
  return stdout.split('\n').flatMap((line) => {
    const [id, state] = line.trim().split('|');
    const m = /^(\d+)_(\d+)$/.exec(id ?? '');
    return m && state ? [{ job: m[1]!, task: Number(m[2]), state: state.split(' ')[0]!, exitCode: null, signal: null, end: null }] : [];
  });
}

/**
 * `sacct -X -n -P -o JobID,State,ExitCode,End` lines, e.g. "12_3|CANCELLED by 0|0:15|2026-11-25T10:01:02"; tasks that
 * never started share one line ("12_[2-4,7%2]|CANCELLED by 0|…"), read as one state per task.
 */
export function parseAccounting(stdout: string): SlurmTaskState[] {
  return stdout.split('\n').flatMap((line) => {
    const [id, state, exit, end] = line.trim().split('|');
    const m = /^(\d+)_(?:(\d+)|\[([\d,-]+)(?:%\d+)?\])$/.exec(id ?? '');
    if (!m || !state) return [];
    const tasks = m[2] !== undefined ? [Number(m[2])] : taskRange(m[3]!);
    const [code, sig] = (exit ?? '').split(':').map((x) => (x === undefined || x === '' ? null : Number(x)));
    return tasks.map((task) => ({
      job: m[1]!,
      task,
      state: state.split(' ')[0]!,
      exitCode: code ?? null,
      signal: sig ?? null,
      end: end && /^\d{4}-/.test(end) ? new Date(end).toISOString() : null,
    }));
  });
}

/** "1-3,7" → [1, 2, 3, 7]. */
function taskRange(spec: string): number[] {
  return spec.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return b === undefined ? [a!] : Array.from({ length: Math.max(0, b - a! + 1) }, (_, i) => a! + i);
  });
}

type Exec = (
  file: string,
  args: string[],
  o: { cwd?: string; signal?: AbortSignal; env?: Readonly<Record<string, string>> },
) => Promise<{ stdout: string; stderr: string }>;

const exec: Exec = (file, args, o) =>
  new Promise((resolve, reject) => {
    // `env` adds to this process's environment, which sbatch hands on to the job (--export=ALL, its default).
    execFile(
      file,
      args,
      {
        cwd: o.cwd,
        signal: o.signal,
        ...(o.env ? { env: { ...process.env, ...o.env } } : {}),
        timeout: 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stdout, stderr }));
        else resolve({ stdout, stderr });
      },
    );
  });

/** The Slurm client commands on PATH. */
export class SlurmCli implements Slurm {
  /** The request's options, named in the error sentences. */
  constructor(private readonly o: { partition?: string; gres?: string; mem?: string; cpusPerTask?: number; exec?: Exec } = {}) {}

  private async run(
    command: string,
    args: string[],
    o: { cwd?: string; signal?: AbortSignal; env?: Readonly<Record<string, string>> } = {},
  ): Promise<{ stdout: string; stderr: string }> {
    try {
      return await (this.o.exec ?? exec)(command, args, o);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      if (err.code === 'ENOENT')
        throw new SlurmError(
          `${command} is not on PATH: run this on a Slurm login node, or install the Slurm client (Debian: slurm-client; scripts/test-slurm.sh sets up a one-node cluster).`,
        );
      if (err.name === 'AbortError') throw e;
      const text = err.stderr ?? err.message;
      throw new SlurmError(slurmErrorMessage(command, text, this.o), CONTROLLER_DOWN.test(text) ? 'controller' : 'other');
    }
  }

  async submit(scriptFile: string, cwd: string, signal?: AbortSignal, env?: Readonly<Record<string, string>>): Promise<string> {
    const o = { cwd, ...(signal ? { signal } : {}), ...(env ? { env } : {}) };
    // A held job skips the checks against the nodes (an unsatisfiable --gres would wait for ever): ask them first.
    await this.run('sbatch', ['--test-only', scriptFile], o);
    return parseSubmit((await this.run('sbatch', ['--parsable', '--hold', scriptFile], o)).stdout);
  }

  async release(job: string, signal?: AbortSignal): Promise<void> {
    await this.run('scontrol', ['release', job], signal ? { signal } : {});
  }

  async queue(jobs: readonly string[], signal?: AbortSignal): Promise<SlurmTaskState[]> {
    if (!jobs.length) return [];
    try {
      return parseQueue(
        (await this.run('squeue', ['-h', '-r', '-t', 'all', '-j', jobs.join(','), '-o', '%i|%T'], signal ? { signal } : {})).stdout,
      );
    } catch (e) {
      // Jobs slurmctld has forgotten (MinJobAge) are "invalid" to squeue: none of them is queued.
      if (e instanceof SlurmError && /Invalid job id/i.test(e.message)) return [];
      throw e;
    }
  }

  async accounting(jobs: readonly string[], signal?: AbortSignal): Promise<SlurmTaskState[] | undefined> {
    if (!jobs.length) return [];
    const { stdout, stderr } = await this.run(
      'sacct',
      ['-X', '-n', '-P', '-j', jobs.join(','), '-o', 'JobID,State,ExitCode,End'],
      signal ? { signal } : {},
    );
    if (/accounting storage is disabled/i.test(stdout + stderr)) return undefined;
    return parseAccounting(stdout);
  }

  async cancel(ids: readonly string[], signal?: AbortSignal): Promise<void> {
    if (ids.length) await this.run('scancel', [...ids], signal ? { signal } : {});
  }
}

/** Whether an executable of this name is on PATH (`sbatch`: this is a Slurm submit host), without running it. */
export async function commandOnPath(command: string, env: Readonly<Record<string, string | undefined>> = process.env): Promise<boolean> {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    if (
      await fs.access(path.join(dir, command), fsConstants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}
