import * as vscode from 'vscode';
import { checkBuildArgs } from '../core/build/buildArgs';
import type { GpuSetting } from '../core/container/gpu';
import { parseGpuSetting } from '../core/container/gpu';
import { parseSize } from '../core/format';
import type { RuntimeSettings, UserRuntimeInput } from '../core/container/runtime';
import { runtimeSettings } from '../core/container/runtime';
import { openProject } from '../core/project';

export interface RunSettings {
  gpu: GpuSetting;
  shmSizeBytes: number;
  readyTimeoutMs: number;
}

/** A setting parsed where it enters; a bad value is an error that names the setting and what it accepts. */
function named<T>(key: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new Error(vscode.l10n.t('Setting mlContainers.{0}: {1}', key, e instanceof Error ? e.message : String(e)), { cause: e });
  }
}

export interface BuildSettings {
  /** Win over devcontainer.json's build.args (a base-image mirror, a proxy). */
  buildArgs: Record<string, string>;
  /** Refuse a context holding secret-looking or huge files rather than warn. */
  strict: boolean;
}

export function buildSettings(): BuildSettings {
  const config = vscode.workspace.getConfiguration('mlContainers');
  return {
    buildArgs: named('build.args', () => checkBuildArgs(config.get<unknown>('build.args', {}))),
    strict: config.get<boolean>('build.strict', false) === true,
  };
}

/** The run settings, validated. */
export function runSettings(): RunSettings {
  const config = vscode.workspace.getConfiguration('mlContainers');
  const timeout = config.get<number>('jupyter.readyTimeout', 120);
  return {
    gpu: named('gpu', () => parseGpuSetting(config.get<unknown>('gpu', 'auto'))),
    shmSizeBytes: named('shmSize', () => parseSize(config.get<string>('shmSize', '8g'))),
    readyTimeoutMs: (Number.isFinite(timeout) && timeout > 0 ? timeout : 120) * 1000,
  };
}

/** mlContainers.runs.headlineMetric: the metric run rows show; '' means each run's first metric. */
export function headlineMetricSetting(): string {
  const value = vscode.workspace.getConfiguration('mlContainers').get<unknown>('runs.headlineMetric', '');
  return typeof value === 'string' ? value.trim() : '';
}

/** mlContainers.run.env, .envFile and .mounts: what the user adds to every container of the workspace. */
export function userRuntimeSettings(): UserRuntimeInput {
  const config = vscode.workspace.getConfiguration('mlContainers');
  const strings = (key: string): string[] => {
    const value = config.get<unknown>(key, []);
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v.trim() !== '') : [];
  };
  const envFile = config.get<unknown>('run.envFile', '');
  return {
    env: strings('run.env'),
    envFiles: typeof envFile === 'string' && envFile.trim() ? [envFile.trim()] : [],
    mounts: strings('run.mounts'),
  };
}

/**
 * The workspace's runtime settings: its devcontainer.json (the one chosen for it, where it has several: see
 * DevcontainerChoice) and the settings above, values from VS Code's environment.
 */
export async function workspaceRuntime(workspace: string, choice: { devcontainer?: string } = {}): Promise<RuntimeSettings> {
  const project = await openProject(workspace, choice);
  const raw = project.rawConfig;
  return runtimeSettings(raw, {
    workspace,
    hostEnv: process.env,
    user: userRuntimeSettings(),
    ...(raw ? { configFile: project.devcontainerPath } : {}),
  });
}
