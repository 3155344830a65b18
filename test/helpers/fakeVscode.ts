// A recording stand-in for the parts of the `vscode` module our shell touches, for tests that load
// src/extension.ts in plain Node. It records calls; it implements no editor behaviour.
import Module, { createRequire } from 'node:module';
import * as path from 'node:path';
import type * as Extension from '../../src/extension';
import type { ExperimentImagesModel } from '../../src/core/images/model';
import type * as WorkspaceImagesModule from '../../src/vscode/workspaceImages';

/** What a test does when the command shows its next QuickPick or InputBox. */
export type QuickInputAction = { pick: string } | { type: string } | { back: true };

export interface FakeQuickInput {
  title?: string;
  step?: number;
  totalSteps?: number;
  placeholder?: string;
  prompt?: string;
  items?: { label: string }[];
  /** An InputBox's prefilled value. */
  value?: string;
}

/** A webview panel as createWebviewPanel made it: what the extension set and posted, and the page's side. */
export interface FakeWebviewPanel {
  viewType: string;
  title: string;
  options: { enableScripts?: boolean; localResourceRoots?: { fsPath: string }[]; retainContextWhenHidden?: boolean };
  html: string;
  /** Messages the extension posted to the page, in order. */
  posted: { type?: string; [key: string]: unknown }[];
  reveals: number;
  disposed: boolean;
  /** Sends a message from the page to the extension. */
  receive(message: unknown): void;
  /** The next message of this type the extension posts (from now on). */
  next(type: string): Promise<{ type?: string; [key: string]: unknown }>;
  /** Closes the panel, as the user's click on its tab's close button does. */
  close(): void;
}

export interface FakeVscodeRecord {
  /** Scripted answers, consumed in order as quick inputs are shown. */
  quickInputScript: QuickInputAction[];
  quickInputsShown: FakeQuickInput[];
  commands: Map<string, (...args: unknown[]) => unknown>;
  executed: string[];
  /** The same commands with their arguments. */
  executedWith: { id: string; args: unknown[] }[];
  treeViews: Map<string, { treeDataProvider: unknown }>;
  messages: { level: 'info' | 'warn' | 'error'; text: string; buttons: string[] }[];
  logLines: string[];
  /** Lookups of the git extension (vscode.git). */
  gitApiRequests: number;
  /** Every vscode.extensions.getExtension id asked for, in order. */
  extensionLookups: string[];
  /** Installed extensions by id, as getExtension returns them. */
  extensions: Record<string, unknown>;
  /** Documents opened with workspace.openTextDocument and URIs handed to env.openExternal. */
  openedDocuments: { content: string; language?: string }[];
  openedExternal: string[];
  /** Files shown in an editor with window.showTextDocument. */
  shownDocuments: string[];
  config: Record<string, unknown>;
  trusted: boolean;
  /** Button titles (substrings) the next messages answer with. */
  answers: string[];
  /** vscode.env.remoteName: 'dev-container' inside a dev container. */
  remoteName: string | undefined;
  statusBarItems: { id: string; text: string; tooltip: unknown; command?: string; visible: boolean }[];
  /** Terminals created, with the command line they run. */
  terminals: { name: string; shellPath?: string; shellArgs?: string[] }[];
  /** What pseudo-terminals (extension-driven terminals) wrote, in order. */
  ptyOutput: string[];
  /** Closes the last pseudo-terminal, as the user's click on its trash icon does. */
  closeTerminal: () => void;
  /** Paths workspace.findFiles answers with. */
  files: string[];
  webviewPanels: FakeWebviewPanel[];
  /** Every showQuickPick call with canPickMany: its items and options. */
  multiPicks: { items: { label: string; description?: string; detail?: string; picked?: boolean }[]; title?: string }[];
  /** The file in the active editor (window.activeTextEditor); set it with setActiveEditor to fire the change. */
  activeEditor: string | undefined;
  setActiveEditor: (fsPath: string | undefined) => void;
  /** The placeholders of workspace-folder picks shown; each answers with the folder named by the next answer. */
  folderPicks: string[];
  /** Replaces the workspace folders (paths; names are their base names) and fires onDidChangeWorkspaceFolders. */
  setWorkspaceFolders: (paths: string[]) => void;
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

function createFakeVscode(): { module: Record<string, unknown>; record: FakeVscodeRecord } {
  const record: FakeVscodeRecord = {
    quickInputScript: [],
    quickInputsShown: [],
    commands: new Map(),
    executed: [],
    executedWith: [],
    treeViews: new Map(),
    messages: [],
    logLines: [],
    gitApiRequests: 0,
    extensionLookups: [],
    extensions: {},
    openedDocuments: [],
    openedExternal: [],
    shownDocuments: [],
    config: {},
    trusted: true,
    answers: [],
    remoteName: undefined,
    statusBarItems: [],
    terminals: [],
    ptyOutput: [],
    closeTerminal: () => undefined,
    files: [],
    webviewPanels: [],
    multiPicks: [],
    activeEditor: undefined,
    setActiveEditor: () => undefined,
    folderPicks: [],
    setWorkspaceFolders: () => undefined,
  };
  const activeEditorChanged = new EventEmitter<unknown>();
  const foldersChanged = new EventEmitter<unknown>();
  type Folder = { uri: { fsPath: string; scheme?: string }; name: string; index: number };
  const folders = (): Folder[] => (module.workspace as { workspaceFolders?: Folder[] }).workspaceFolders ?? [];
  // The innermost folder holding the path, as VS Code answers for nested folders.
  const folderOf = (fsPath: string): Folder | undefined =>
    folders()
      .filter((f) => fsPath === f.uri.fsPath || fsPath.startsWith(f.uri.fsPath + path.sep))
      .sort((a, b) => b.uri.fsPath.length - a.uri.fsPath.length)[0];
  record.setActiveEditor = (fsPath) => {
    record.activeEditor = fsPath;
    activeEditorChanged.fire(undefined);
  };
  record.setWorkspaceFolders = (paths) => {
    (module.workspace as { workspaceFolders: Folder[] }).workspaceFolders = paths.map((p, index) => ({
      uri: { fsPath: p, scheme: 'file' },
      name: path.basename(p),
      index,
    }));
    foldersChanged.fire(undefined);
  };
  const noop = { dispose: () => undefined };
  const log = (level: string) => (line: string) => record.logLines.push(`${level} ${line}`);
  const channel = {
    trace: log('trace'),
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    show: () => undefined,
    dispose: () => undefined,
    appendLine: log('line'),
  };
  /** Messages resolve with the first button whose title matches record.answers (then undefined). */
  const message =
    (level: 'info' | 'warn' | 'error') =>
    async (text: string, ...items: unknown[]) => {
      record.messages.push({ level, text, buttons: items.filter((i): i is string => typeof i === 'string') });
      const wanted = record.answers.shift();
      return items.find((i) => typeof i === 'string' && wanted !== undefined && i.includes(wanted));
    };
  class CancellationError extends Error {}
  class TreeItem {
    constructor(
      public label: string,
      public collapsibleState?: number,
    ) {}
  }
  class ThemeIcon {
    constructor(
      public id: string,
      public color?: unknown,
    ) {}
  }
  class ThemeColor {
    constructor(public id: string) {}
  }
  class MarkdownString {
    constructor(public value = '') {}
    appendMarkdown(text: string): this {
      this.value += text;
      return this;
    }
  }
  const back = { iconPath: 'back' };
  const createQuickInput = (kind: 'pick' | 'input') => {
    const accept = new EventEmitter<void>();
    const button = new EventEmitter<unknown>();
    const hide = new EventEmitter<void>();
    const change = new EventEmitter<string>();
    const input: Record<string, unknown> & FakeQuickInput = {
      items: [],
      selectedItems: [],
      value: '',
      buttons: [],
      onDidAccept: accept.event,
      onDidTriggerButton: button.event,
      onDidHide: hide.event,
      onDidChangeValue: change.event,
      hide: () => hide.fire(),
      dispose: () => undefined,
      show: () => {
        record.quickInputsShown.push({ ...input });
        const action = record.quickInputScript.shift();
        setImmediate(() => {
          if (!action) {
            hide.fire();
          } else if ('back' in action) {
            button.fire(back);
          } else if ('pick' in action && kind === 'pick') {
            const item = (input.items ?? []).find((i) => i.label.includes(action.pick));
            if (!item) throw new Error(`no item "${action.pick}" in ${JSON.stringify(input.items?.map((i) => i.label))}`);
            input.selectedItems = [item];
            accept.fire();
          } else if ('type' in action && kind === 'input') {
            input.value = action.type;
            change.fire(action.type);
            accept.fire();
          } else {
            throw new Error(
              `script wants ${JSON.stringify(action)} but a ${kind} is shown: ${input.title} ${input.placeholder ?? input.prompt}`,
            );
          }
        });
      },
    };
    return input;
  };
  const module = {
    version: '1.100.3-fake',
    QuickInputButtons: { Back: back },
    Uri: {
      file: (fsPath: string) => ({ fsPath, scheme: 'file', toString: () => `file://${fsPath}` }),
      parse: (value: string) => ({ scheme: value.split(':')[0], toString: () => value }),
      joinPath: (base: { fsPath: string }, ...parts: string[]) => {
        const fsPath = path.join(base.fsPath, ...parts);
        return { fsPath, scheme: 'file', toString: () => `file://${fsPath}` };
      },
    },
    ViewColumn: { Active: -1, Beside: -2, One: 1 },
    EventEmitter,
    CancellationError,
    TreeItem,
    ThemeIcon,
    ThemeColor,
    MarkdownString,
    TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
    RelativePattern: class {
      constructor(
        public base: unknown,
        public pattern: string,
      ) {}
    },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    StatusBarAlignment: { Left: 1, Right: 2 },
    Disposable: { from: () => noop },
    l10n: { t: (s: string, ...args: unknown[]) => s.replace(/\{(\d+)\}/g, (_m, i: string) => String(args[Number(i)])) },
    env: {
      get remoteName() {
        return record.remoteName;
      },
      openExternal: async (uri: { toString(): string }) => (record.openedExternal.push(uri.toString()), true),
    },
    window: {
      createOutputChannel: () => channel,
      createStatusBarItem: (id: string) => {
        const item = {
          id,
          text: '',
          tooltip: undefined as unknown,
          visible: false,
          show: () => (item.visible = true),
          hide: () => (item.visible = false),
          dispose: () => (item.visible = false),
        };
        record.statusBarItems.push(item);
        return item;
      },
      createTerminal: (options: {
        name: string;
        shellPath?: string;
        shellArgs?: string[];
        pty?: { onDidWrite: (l: (t: string) => void) => unknown; open: () => void; close: () => void };
      }) => {
        record.terminals.push(options);
        const pty = options.pty;
        if (pty) {
          pty.onDidWrite((text) => record.ptyOutput.push(text));
          record.closeTerminal = () => pty.close();
          setImmediate(() => pty.open());
        }
        return { show: () => undefined, dispose: () => undefined };
      },
      createTreeView: (id: string, options: { treeDataProvider: unknown }) => {
        record.treeViews.set(id, options);
        return { dispose: () => undefined, visible: false, onDidChangeVisibility: () => noop };
      },
      registerTreeDataProvider: (id: string, treeDataProvider: unknown) => {
        record.treeViews.set(id, { treeDataProvider });
        return noop;
      },
      createWebviewPanel: (viewType: string, title: string, _column: unknown, options: FakeWebviewPanel['options']) => {
        const received = new EventEmitter<unknown>();
        const disposed = new EventEmitter<void>();
        const posted = new EventEmitter<FakeWebviewPanel['posted'][number]>();
        const fake: FakeWebviewPanel = {
          viewType,
          title,
          options,
          html: '',
          posted: [],
          reveals: 0,
          disposed: false,
          receive: (message) => received.fire(message),
          next: (type) =>
            new Promise((resolve) => {
              const sub = posted.event((m) => {
                if (m.type !== type) return;
                sub.dispose();
                resolve(m);
              });
            }),
          close: () => panel.dispose(),
        };
        const webview = {
          cspSource: 'https://fake.vscode-cdn.net',
          options,
          get html() {
            return fake.html;
          },
          set html(value: string) {
            fake.html = value;
          },
          asWebviewUri: (uri: { fsPath: string }) => ({ toString: () => `https://file+.vscode-resource.fake.vscode-cdn.net${uri.fsPath}` }),
          postMessage: async (message: FakeWebviewPanel['posted'][number]) => (fake.posted.push(message), posted.fire(message), true),
          onDidReceiveMessage: received.event,
        };
        const panel = {
          webview,
          iconPath: undefined as unknown,
          get title() {
            return fake.title;
          },
          set title(value: string) {
            fake.title = value;
          },
          reveal: () => void fake.reveals++,
          onDidDispose: disposed.event,
          dispose: () => {
            if (fake.disposed) return;
            fake.disposed = true;
            disposed.fire();
          },
        };
        record.webviewPanels.push(fake);
        return panel;
      },
      createQuickPick: () => createQuickInput('pick'),
      createInputBox: () => createQuickInput('input'),
      showInformationMessage: message('info'),
      showWarningMessage: message('warn'),
      showErrorMessage: message('error'),
      showTextDocument: async (uri: { fsPath?: string }) => void record.shownDocuments.push(uri.fsPath ?? String(uri)),
      showInputBox: async (o: { title?: string; prompt?: string; value?: string; validateInput?: (v: string) => string | undefined }) => {
        record.quickInputsShown.push({
          ...(o.title ? { title: o.title } : {}),
          ...(o.prompt ? { prompt: o.prompt } : {}),
          ...(o.value !== undefined ? { value: o.value } : {}),
        });
        const action = record.quickInputScript.shift();
        if (!action || !('type' in action)) return undefined;
        const invalid = o.validateInput?.(action.type);
        if (invalid) throw new Error(`InputBox refused "${action.type}": ${invalid}`);
        return action.type;
      },
      // A multi-pick answers with the items picked beforehand plus those whose label or detail has the next answer.
      showQuickPick: async <T extends { label: string; detail?: string; picked?: boolean }>(
        items: T[],
        options?: { canPickMany?: boolean; title?: string },
      ) => {
        if (!options?.canPickMany) {
          // One answer per pick, whichever item it names.
          const wanted = record.answers.shift();
          return wanted === undefined ? undefined : items.find((i) => i.label.includes(wanted));
        }
        record.multiPicks.push({ items: items.map((i) => ({ ...i })), ...(options.title ? { title: options.title } : {}) });
        const wanted = record.answers.shift();
        if (wanted === undefined) return undefined;
        return items.filter((i) => i.picked || (wanted !== '' && (i.label.includes(wanted) || (i.detail ?? '').includes(wanted))));
      },
      get activeTextEditor() {
        const fsPath = record.activeEditor;
        return fsPath === undefined ? undefined : { document: { uri: { fsPath, scheme: 'file' } } };
      },
      onDidChangeActiveTextEditor: activeEditorChanged.event,
      showWorkspaceFolderPick: async (options?: { placeHolder?: string }) => {
        record.folderPicks.push(options?.placeHolder ?? '');
        const wanted = record.answers.shift();
        return wanted === undefined ? undefined : folders().find((f) => f.name === wanted);
      },
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
        record.executedWith.push({ id, args });
        return record.commands.get(id)?.(...args);
      },
    },
    workspace: {
      get isTrusted() {
        return record.trusted;
      },
      workspaceFolders: [] as { uri: { fsPath: string }; name: string; index: number }[],
      getWorkspaceFolder: (uri: { fsPath: string }) => folderOf(uri.fsPath),
      onDidChangeWorkspaceFolders: foldersChanged.event,
      getConfiguration: (section: string) => ({
        get: <T>(key: string, fallback?: T) => (record.config[`${section}.${key}`] as T | undefined) ?? fallback,
      }),
      onDidChangeConfiguration: () => noop,
      onDidOpenNotebookDocument: () => noop,
      registerTextDocumentContentProvider: () => noop,
      notebookDocuments: [] as { notebookType: string }[],
      openTextDocument: async (options: { content: string; language?: string }) => (record.openedDocuments.push(options), options),
      onDidGrantWorkspaceTrust: () => noop,
      findFiles: async () => record.files.map((fsPath) => ({ fsPath, scheme: 'file' })),
      createFileSystemWatcher: () => ({
        onDidCreate: () => noop,
        onDidChange: () => noop,
        onDidDelete: () => noop,
        dispose: () => undefined,
      }),
    },
    extensions: {
      getExtension: (id: string) => {
        record.extensionLookups.push(id);
        if (id === 'vscode.git') record.gitApiRequests++;
        return record.extensions[id];
      },
    },
  };
  return { module, record };
}

/** A fresh fake, installed: `require('vscode')` returns `module` until `uninstall` is called. */
export function installFakeVscode(): { module: Record<string, unknown>; record: FakeVscodeRecord; uninstall: () => void } {
  const { module, record } = createFakeVscode();
  const mod = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const original = mod._load;
  mod._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? module : original.call(this, request, ...rest);
  };
  return {
    module,
    record,
    uninstall: () => {
      mod._load = original;
    },
  };
}

/** Loads src/extension.ts afresh, so its modules bind to the fake installed now rather than an earlier test's. */
export function loadExtension(): typeof Extension {
  return loadFresh<typeof Extension>('src/extension');
}

/**
 * Loads one module of src/ afresh (e.g. 'src/vscode/commands/jupyter'), bound to the fake vscode installed now. Only
 * the modules that may import vscode (src/extension.ts, src/vscode/) are loaded again; src/core and src/cli never do,
 * so the tests, the view and the CLI (whose commands are imported when they run) share one copy of them.
 */
export function loadFresh<T>(srcRelative: string): T {
  const load = createRequire(__filename);
  const src = load.resolve('../../src/extension').replace(/extension\.ts$/, '');
  for (const key of Object.keys(load.cache)) {
    if (key === `${src}extension.ts` || key.startsWith(`${src}vscode${path.sep}`)) delete load.cache[key];
  }
  return load(`../../${srcRelative}`) as T;
}

/**
 * The view's models by folder (src/vscode/workspaceImages.ts, bound to the fake installed now) over the models
 * given, in that order: what extension.ts makes for the workspace's folders.
 */
export function workspaceImagesOf(models: Record<string, ExperimentImagesModel>): WorkspaceImagesModule.WorkspaceImages {
  const { WorkspaceImages } = loadFresh<typeof WorkspaceImagesModule>('src/vscode/workspaceImages');
  const images = new WorkspaceImages((folder) => models[folder]!);
  images.setFolders(Object.keys(models).map((p) => ({ path: p, name: path.basename(p) })));
  return images;
}

/** ExtensionContext.workspaceState, in memory. */
export function fakeMemento(): {
  get<T>(key: string, fallback?: T): T | undefined;
  update(key: string, value: unknown): Promise<void>;
  keys(): readonly string[];
} {
  const values = new Map<string, unknown>();
  return {
    get: <T>(key: string, fallback?: T) => (values.has(key) ? (values.get(key) as T) : fallback),
    update: async (key, value) => void values.set(key, value),
    keys: () => [...values.keys()],
  };
}
