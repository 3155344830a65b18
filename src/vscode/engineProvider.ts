import * as vscode from 'vscode';
import type { Engine } from '../core/docker/engine';
import { describeEndpoint } from '../core/docker/endpoint';
import { machineEngine } from '../core/docker/machine';
import type { Logger } from '../core/log';

/**
 * Hands out the Engine for the current settings, created on first use (never during activation) and recreated when
 * mlContainers.dockerHost changes. In Restricted Mode VS Code itself withholds the workspace's value of that setting
 * (it is listed in restrictedConfigurations), so an untrusted folder cannot point us at another engine.
 */
export class EngineProvider implements vscode.Disposable {
  private engine: Engine | undefined;
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeEngine = this.emitter.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly log: Logger) {
    this.subscription = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('mlContainers.dockerHost')) {
        this.engine = undefined;
        this.emitter.fire();
      }
    });
  }

  get(): Engine {
    if (!this.engine) {
      const setting = vscode.workspace.getConfiguration('mlContainers').get<string>('dockerHost', '');
      this.engine = machineEngine(setting, { timeoutMs: 15_000 });
      this.log.info(`using ${describeEndpoint(this.engine.endpoint)}`);
    }
    return this.engine;
  }

  dispose(): void {
    this.subscription.dispose();
    this.emitter.dispose();
  }
}
