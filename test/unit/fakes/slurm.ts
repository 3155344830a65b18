import type { Slurm, SlurmTaskState } from '../../../src/core/backends/slurm/slurm';

/** Slurm as our interface sees it: tests set what squeue and sacct say, and read what was submitted and cancelled. */
export class FakeSlurm implements Slurm {
  submitted: { scriptFile: string; cwd: string }[] = [];
  /** The environment each submission added for the job (secret values travel only this way). */
  submittedEnv: (Readonly<Record<string, string>> | undefined)[] = [];
  released: string[] = [];
  cancelled: string[][] = [];
  /** What squeue lists; a function to change it per call (a task that ends while polled). */
  queued: SlurmTaskState[] | (() => SlurmTaskState[]) = [];
  /** What sacct lists; undefined: accounting is off. */
  accounted: SlurmTaskState[] | undefined = [];
  nextJob = '41';
  onRelease?: (job: string) => Promise<void>;

  async submit(scriptFile: string, cwd: string, _signal?: AbortSignal, env?: Readonly<Record<string, string>>): Promise<string> {
    this.submitted.push({ scriptFile, cwd });
    this.submittedEnv.push(env);
    return this.nextJob;
  }

  async release(job: string): Promise<void> {
    this.released.push(job);
    await this.onRelease?.(job);
  }

  async queue(jobs: readonly string[]): Promise<SlurmTaskState[]> {
    const all = typeof this.queued === 'function' ? this.queued() : this.queued;
    return all.filter((t) => jobs.includes(t.job));
  }

  async accounting(jobs: readonly string[]): Promise<SlurmTaskState[] | undefined> {
    return this.accounted?.filter((t) => jobs.includes(t.job));
  }

  async cancel(ids: readonly string[]): Promise<void> {
    this.cancelled.push([...ids]);
  }
}

export function task(
  job: string,
  n: number,
  state: string,
  exit: [number, number] | null = null,
  end: string | null = null,
): SlurmTaskState {
  return { job, task: n, state, exitCode: exit?.[0] ?? null, signal: exit?.[1] ?? null, end };
}
