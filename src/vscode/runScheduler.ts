import * as path from 'node:path';
import type { ExperimentPlan } from '../core/run/plan';
import { schedulerLaunch, startScheduler } from '../core/run/detach';
import type { EngineProvider } from './engineProvider';

/** A plan's scheduler, started: its exit code once it ends (while this window is there to see it), and its log. */
export interface ScheduledPlan {
  exited: Promise<number | null>;
  logFile: string;
}

/** Starts the runs of a written plan somewhere that outlives this window; unit tests pass a fake. */
/** `env`: values given as NAME=VALUE in settings, which the plan on disk names only; `on` submits it to that run backend. */
export type RunScheduler = (plan: ExperimentPlan, env?: Record<string, string>, o?: { on?: string }) => ScheduledPlan;

/**
 * The extension's own bundled mlc (dist/cli.js), run by VS Code's node (ELECTRON_RUN_AS_NODE) as a detached
 * `mlc run --resume` (with `--on BACKEND`, a submission that ends once the backend took it), against the engine the extension uses (the dockerHost setting as --host).
 */
export function detachedScheduler(extensionPath: string, engines: EngineProvider): RunScheduler {
  return (plan, env = {}, o = {}) => {
    const endpoint = engines.get().endpoint;
    const launch = schedulerLaunch({
      nodePath: process.execPath,
      cliPath: path.join(extensionPath, 'dist', 'cli.js'),
      planId: plan.id,
      workspace: plan.workspace,
      host: endpoint.source === 'setting' ? endpoint.host : undefined,
      ...(o.on ? { on: o.on } : {}),
      env: { ...process.env, ...env, ELECTRON_RUN_AS_NODE: '1' },
    });
    return { exited: startScheduler(launch).exited, logFile: launch.logFile };
  };
}
