// A plan's scheduler as a background process (`mlc run --resume ID`), detached from whoever started it: `mlc run
// --detach` and VS Code's Run Experiment both start it here, so a closed terminal or a reloaded window stops nothing.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PLANS_DIR } from './plan';

/** Everything needed to start a plan's scheduler; built without side effects so tests can read it. */
export interface SchedulerLaunch {
  command: string;
  args: string[];
  env: Record<string, string | undefined>;
  /** Where the scheduler's stdout and stderr go: .mlcontainers/sweeps/<id>.log. */
  logFile: string;
}

/**
 * Set in a scheduler's environment to its plan's id. `mlc run --resume` started by a person clears the sweep's stop
 * marker; one started as a plan's scheduler must not, or a stop given while it was starting would be undone.
 */
export const SCHEDULER_ENV = 'MLC_SCHEDULER_OF';

export interface SchedulerInput {
  /** The node binary (VS Code: its own, with ELECTRON_RUN_AS_NODE=1 in env). */
  nodePath: string;
  /** The bundled CLI, dist/cli.js. */
  cliPath: string;
  planId: string;
  workspace: string;
  /** The Docker host setting (`--host`, mlContainers.dockerHost), when one is set. */
  host?: string | undefined;
  /** Submit the plan to a run backend (`--on ID`, core/backends/) instead of running it on the engine. */
  on?: string;
  env: Record<string, string | undefined>;
}

export function schedulerLaunch(i: SchedulerInput): SchedulerLaunch {
  return {
    command: i.nodePath,
    args: [
      i.cliPath,
      'run',
      '--resume',
      i.planId,
      '--dir',
      i.workspace,
      ...(i.host ? ['--host', i.host] : []),
      ...(i.on ? ['--on', i.on] : []),
    ],
    env: { ...i.env, [SCHEDULER_ENV]: i.planId },
    logFile: schedulerLogFile(i.workspace, i.planId),
  };
}

export function schedulerLogFile(workspace: string, planId: string): string {
  return path.join(workspace, PLANS_DIR, `${planId}.log`);
}

/**
 * Starts the scheduler in its own session with its output appended to its log file, and lets go of it: this
 * process may exit first. `exited` settles with its exit code if this process is still there to see it.
 */
export function startScheduler(launch: SchedulerLaunch): { exited: Promise<number | null> } {
  fs.mkdirSync(path.dirname(launch.logFile), { recursive: true });
  const out = fs.openSync(launch.logFile, 'a');
  try {
    const child = spawn(launch.command, launch.args, {
      detached: true,
      windowsHide: true,
      stdio: ['ignore', out, out],
      env: launch.env as NodeJS.ProcessEnv,
    });
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code) => resolve(code));
      // A binary that cannot be started at all ends the scheduler before it began.
      child.on('error', () => resolve(null));
    });
    child.unref();
    return { exited };
  } finally {
    fs.closeSync(out);
  }
}

/** The last lines of the scheduler's log: why it ended, when it ended early. */
export function schedulerLogTail(logFile: string, lines = 5): string {
  const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
  return text.trim().split('\n').slice(-lines).join('\n');
}
