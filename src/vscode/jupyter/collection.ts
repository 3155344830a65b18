import { createHash } from 'node:crypto';
import type { Jupyter, JupyterServer as JupyterApiServer, JupyterServerCollection, JupyterServerProvider } from '@vscode/jupyter-extension';
import * as vscode from 'vscode';
import type { JupyterServer } from '../../core/jupyter/server';
import { findJupyterServers, serverLabel } from '../../core/jupyter/server';
import type { Logger } from '../../core/log';
import type { EngineProvider } from '../engineProvider';

export const JUPYTER_EXTENSION_ID = 'ms-toolsai.jupyter';
export const COLLECTION_ID = 'mlContainers.experimentServers';

/**
 * A stable id per workspace and image: a container recreated for the same pair (Stop, then Start) comes back as the
 * same kernel-picker entry, and resolves to whatever container carries those labels now.
 */
export function serverId(s: Pick<JupyterServer, 'workspace' | 'imageId'>): string {
  return createHash('sha256').update(`${s.workspace}\0${s.imageId}`).digest('hex').slice(0, 16);
}

/**
 * Lists running experiment containers' Jupyter servers in the notebook kernel picker, through the Jupyter
 * extension's server collection API. Connection details (port, token) are looked up when the picker resolves an
 * entry, so a restarted container's new port is used, and the token never sits in a label or a list.
 */
export class ExperimentServerProvider implements JupyterServerProvider, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeServers = this.emitter.event;

  constructor(
    private readonly engines: EngineProvider,
    private readonly log: Logger,
    /** Workspace folders whose containers are listed; all of ours when empty. */
    private readonly folders: () => readonly string[],
  ) {}

  /** After Start, Stop or Restart, and when the engine reports container changes. */
  refresh(): void {
    this.emitter.fire();
  }

  async provideJupyterServers(): Promise<JupyterApiServer[]> {
    const servers = await this.running();
    return servers.map((s) => ({ id: serverId(s), label: serverLabel(s) }));
  }

  async resolveJupyterServer(server: JupyterApiServer): Promise<JupyterApiServer | undefined> {
    const current = (await this.running()).find((s) => serverId(s) === server.id);
    if (!current?.baseUrl || !current.token) {
      this.log.warn(`${server.label} is no longer running: start Jupyter again.`);
      return undefined;
    }
    return {
      id: server.id,
      label: serverLabel(current),
      connectionInformation: { baseUrl: vscode.Uri.parse(current.baseUrl), token: current.token },
    };
  }

  private async running(): Promise<JupyterServer[]> {
    if (!vscode.workspace.isTrusted) return [];
    try {
      const folders = new Set(this.folders());
      const servers = await findJupyterServers(this.engines.get(), {});
      return servers.filter((s) => s.running && (folders.size === 0 || folders.has(s.workspace)));
    } catch (e) {
      this.log.warn(`cannot list Jupyter containers: ${e instanceof Error ? e.message : String(e)}`);
      return [];
    }
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

/**
 * Registers the provider with the Jupyter extension once, when that extension is installed. Called lazily — when a
 * notebook opens or Jupyter is started — so activating ML Containers never activates the Jupyter extension.
 */
export class JupyterBridge implements vscode.Disposable {
  private collection: JupyterServerCollection | undefined;
  private registering: Promise<boolean> | undefined;

  constructor(
    readonly provider: ExperimentServerProvider,
    private readonly log: Logger,
  ) {}

  /** Whether the Jupyter extension is installed (and our servers are now in its kernel picker). */
  ensureRegistered(): Promise<boolean> {
    if (this.collection) return Promise.resolve(true);
    this.registering ??= this.register().finally(() => (this.registering = undefined));
    return this.registering;
  }

  private async register(): Promise<boolean> {
    const extension = vscode.extensions.getExtension<Jupyter>(JUPYTER_EXTENSION_ID);
    if (!extension) return false;
    try {
      const api = extension.isActive ? extension.exports : await extension.activate();
      this.collection = api.createJupyterServerCollection(COLLECTION_ID, vscode.l10n.t('ML Containers'), this.provider);
      this.log.info('experiment Jupyter servers are listed in the notebook kernel picker');
      return true;
    } catch (e) {
      this.log.warn(`the Jupyter extension did not take our server collection: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  dispose(): void {
    this.collection?.dispose();
    this.collection = undefined;
  }
}
