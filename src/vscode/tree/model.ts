import * as vscode from 'vscode';
import type { ImageSummary } from '../../core/docker/engine';
import { EngineError } from '../../core/docker/errors';
import { MANAGED_LABEL } from '../../core/labels';
import type { Logger } from '../../core/log';
import type { EngineProvider } from '../engineProvider';

export type ImagesState =
  | { kind: 'idle' }
  | { kind: 'untrusted' }
  | { kind: 'down'; message: string }
  | { kind: 'ready'; images: ImageSummary[] };

/** The cache behind the Experiment Images view; it loads nothing until the view asks. */
export class ImagesModel implements vscode.Disposable {
  private state: ImagesState = { kind: 'idle' };
  private loading: Promise<ImagesState> | undefined;
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChange = this.emitter.event;

  constructor(private readonly engines: EngineProvider, private readonly log: Logger) {}

  async getState(): Promise<ImagesState> {
    if (this.state.kind === 'idle') {
      this.loading ??= this.load().finally(() => (this.loading = undefined));
      return this.loading;
    }
    return this.state;
  }

  refresh(): void {
    this.state = { kind: 'idle' };
    this.emitter.fire();
  }

  private async load(): Promise<ImagesState> {
    if (!vscode.workspace.isTrusted) {
      return this.setState({ kind: 'untrusted' });
    }
    try {
      const images = await this.engines.get().listImages({ labels: [MANAGED_LABEL] });
      images.sort((a, b) => b.created - a.created);
      return this.setState({ kind: 'ready', images });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!(e instanceof EngineError)) {
        this.log.error(message);
      } else {
        this.log.warn(message);
      }
      return this.setState({ kind: 'down', message });
    }
  }

  private setState(state: ImagesState): ImagesState {
    this.state = state;
    void vscode.commands.executeCommand('setContext', 'mlContainers.engineState', state.kind);
    return state;
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
