import type * as vscode from 'vscode';
import type { BatchBackend } from '../core/backends/backend';
import type { HostGpuProbe } from '../core/gpu/nvidiaSmi';
import type { Logger } from '../core/log';
import type { DevcontainerChoice } from './devcontainerChoice';
import type { EngineProvider } from './engineProvider';
import type { WorkspaceGit } from './gitApi';
import type { JupyterBridge } from './jupyter/collection';
import type { RunScheduler } from './runScheduler';
import type { WorkspaceImages } from './workspaceImages';

/** What command handlers may use; built once in extension.ts. */
export interface Services {
  readonly log: Logger;
  readonly logChannel: vscode.LogOutputChannel;
  readonly engines: EngineProvider;
  /** The Experiment Images models, one per workspace folder. */
  readonly images: WorkspaceImages;
  readonly git: WorkspaceGit;
  /** The notebook kernel picker's list of experiment Jupyter servers. */
  readonly jupyter: JupyterBridge;
  /** nvidia-smi on this machine; unit tests pass a fake of this probe. */
  readonly gpuProbe?: () => Promise<HostGpuProbe>;
  /** templates/ inside the installed extension. */
  readonly templatesDir: string;
  /** media/ inside the installed extension: the only folder webviews may load from. */
  readonly mediaDir: string;
  /** Starts an experiment's runs in the background (the bundled mlc), so they outlive the window. */
  readonly scheduler: RunScheduler;
  /** Which devcontainer.json a folder with several uses (asked once, remembered per folder). */
  readonly devcontainers: DevcontainerChoice;
  /** The run backends Run Experiment offers where they can take jobs (default: core/backends/); unit tests pass fakes. */
  readonly backends?: () => readonly BatchBackend[];
}
