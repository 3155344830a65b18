// A recording stand-in for the parts of the `vscode` module our shell touches, for tests that load
// src/extension.ts in plain Node. It records calls; it implements no editor behaviour.
import Module from 'node:module';

export interface FakeVscodeRecord {
  commands: Map<string, (...args: unknown[]) => unknown>;
  executed: string[];
  treeViews: Map<string, { treeDataProvider: unknown }>;
  messages: { level: 'info' | 'warn' | 'error'; text: string }[];
  logLines: string[];
  gitApiRequests: number;
  config: Record<string, unknown>;
  trusted: boolean;
}

class EventEmitter<T> {
  private listeners = new Set<(e: T) => void>();
  event = (listener: (e: T) => void): { dispose(): void } => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export function createFakeVscode(): { module: Record<string, unknown>; record: FakeVscodeRecord } {
  const record: FakeVscodeRecord = {
    commands: new Map(), executed: [], treeViews: new Map(), messages: [], logLines: [], gitApiRequests: 0, config: {}, trusted: true,
  };
  const noop = { dispose: () => undefined };
  const log = (level: string) => (line: string) => record.logLines.push(`${level} ${line}`);
  const channel = { trace: log('trace'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), show: () => undefined, dispose: () => undefined, appendLine: log('line') };
  const message = (level: 'info' | 'warn' | 'error') => async (text: string) => {
    record.messages.push({ level, text });
    return undefined;
  };
  class CancellationError extends Error {}
  class TreeItem {
    constructor(public label: string, public collapsibleState?: number) {}
  }
  class ThemeIcon {
    constructor(public id: string) {}
  }
  const module = {
    version: '1.100.3-fake',
    EventEmitter,
    CancellationError,
    TreeItem,
    ThemeIcon,
    TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    Disposable: { from: () => noop },
    l10n: { t: (s: string, ...args: unknown[]) => s.replace(/\{(\d+)\}/g, (_m, i: string) => String(args[Number(i)])) },
    env: { remoteName: undefined },
    window: {
      createOutputChannel: () => channel,
      createTreeView: (id: string, options: { treeDataProvider: unknown }) => {
        record.treeViews.set(id, options);
        return { dispose: () => undefined, visible: false, onDidChangeVisibility: () => noop };
      },
      registerTreeDataProvider: (id: string, treeDataProvider: unknown) => {
        record.treeViews.set(id, { treeDataProvider });
        return noop;
      },
      showInformationMessage: message('info'),
      showWarningMessage: message('warn'),
      showErrorMessage: message('error'),
      withProgress: async (_o: unknown, task: (p: unknown, t: unknown) => Promise<unknown>) =>
        task({ report: () => undefined }, { isCancellationRequested: false, onCancellationRequested: () => noop }),
    },
    commands: {
      registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
        record.commands.set(id, fn);
        return noop;
      },
      executeCommand: async (id: string, ...args: unknown[]) => {
        record.executed.push(id);
        return record.commands.get(id)?.(...args);
      },
    },
    workspace: {
      get isTrusted() {
        return record.trusted;
      },
      workspaceFolders: [],
      getConfiguration: (section: string) => ({
        get: <T>(key: string, fallback?: T) => (record.config[`${section}.${key}`] as T | undefined) ?? fallback,
      }),
      onDidChangeConfiguration: () => noop,
      onDidGrantWorkspaceTrust: () => noop,
    },
    extensions: {
      getExtension: () => {
        record.gitApiRequests++;
        return undefined;
      },
    },
  };
  return { module, record };
}

/** Makes `require('vscode')` return the fake until the returned function is called. */
export function installFakeVscode(fake: Record<string, unknown>): () => void {
  const mod = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const original = mod._load;
  mod._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? fake : original.call(this, request, ...rest);
  };
  return () => {
    mod._load = original;
  };
}
