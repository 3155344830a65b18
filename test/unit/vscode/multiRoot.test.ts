import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ImageSummary } from '../../../src/core/docker/engine';
import { EngineEventFeed } from '../../../src/core/docker/events';
import { ExperimentImagesModel } from '../../../src/core/images/model';
import type { GitHistory } from '../../../src/core/provenance/git';
import type * as Runs from '../../../src/vscode/commands/runs';
import type * as Provider from '../../../src/vscode/tree/provider';
import type * as WorkspaceFolder from '../../../src/vscode/workspaceFolder';
import type * as WorkspaceImagesModule from '../../../src/vscode/workspaceImages';
import type { FakeVscodeRecord } from '../../helpers/fakeVscode';
import { fakeMemento, installFakeVscode, loadExtension, loadFresh, workspaceImagesOf } from '../../helpers/fakeVscode';
import { runRecord } from '../../helpers/runs';
import { silentLogger } from '../../helpers/logger';
import { until, within } from '../../helpers/wait';
import { FakeEngine } from '../fakes/engine';

const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);
const C3 = '3'.repeat(40);
const image = (id: string, tag: string, sha: string): ImageSummary => ({
  id: `sha256:${id.repeat(64)}`,
  repoTags: [tag],
  created: Math.floor(Date.now() / 1000) - 60,
  size: 1e9,
  labels: { 'org.mlcontainers.managed': 'true', 'org.opencontainers.image.revision': sha },
});
const history = (head: string, subject: string): GitHistory => ({
  head,
  branchOrder: [head],
  commits: new Map([[head, { sha: head, subject, author: 'Ada', date: new Date().toISOString() }]]),
});

describe('multi-root workspaces (fake vscode)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let root: string;
  let alpha: string;
  let beta: string;

  beforeEach(() => {
    const fake = installFakeVscode();
    ({ record, uninstall } = fake);
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-multiroot-'));
    alpha = path.join(root, 'alpha');
    beta = path.join(root, 'beta');
    for (const dir of [alpha, beta]) fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
    record.setWorkspaceFolders([alpha, beta]);
  });

  afterEach(() => {
    uninstall();
    fs.rmSync(root, { recursive: true, force: true });
  });

  describe('which folder a command works on', () => {
    let folders: typeof WorkspaceFolder;
    beforeEach(() => (folders = loadFresh<typeof WorkspaceFolder>('src/vscode/workspaceFolder')));
    const named = async (arg?: unknown): Promise<string | undefined> => (await folders.pickWorkspaceFolder('Folder to build', arg))?.name;

    it('a row of the Experiment Images view: its folder, whatever the active editor', async () => {
      record.activeEditor = path.join(alpha, 'src', 'train.py');
      assert.equal(await named({ folder: beta, kind: 'image' }), 'beta');
      assert.deepEqual(record.folderPicks, []);
    });

    it("a file the command was invoked on (explorer, editor title): that file's folder", async () => {
      record.activeEditor = path.join(alpha, 'src', 'train.py');
      assert.equal(await named({ fsPath: path.join(beta, '.devcontainer', 'devcontainer.json'), scheme: 'file' }), 'beta');
    });

    it("from the palette: the active editor's folder", async () => {
      record.activeEditor = path.join(beta, 'src', 'train.py');
      assert.equal(await named(), 'beta');
      assert.deepEqual(record.folderPicks, []);
    });

    it('from the palette with no editor in a folder: asks which folder, and nothing when the pick is dismissed', async () => {
      record.activeEditor = path.join(os.tmpdir(), 'elsewhere.py');
      record.answers.push('alpha');
      assert.equal(await named(), 'alpha');
      assert.equal(await named(), undefined);
      assert.deepEqual(record.folderPicks, ['Folder to build', 'Folder to build']);
    });

    it('one folder: that one without asking; none: a hint to open one', async () => {
      record.setWorkspaceFolders([alpha]);
      assert.equal(await named(), 'alpha');
      record.setWorkspaceFolders([]);
      assert.equal(await named(), undefined);
      assert.deepEqual(record.folderPicks, []);
      assert.match(record.messages.at(-1)?.text ?? '', /Open the folder of your ML project first/);
    });

    it("a run row's action works in the row's folder (Open Run Config)", async () => {
      const runs = loadFresh<typeof Runs>('src/vscode/commands/runs');
      await runs.openRunConfigCommand({} as never, { folder: beta, kind: 'run', run: runRecord('r1'), image: {} });
      assert.equal(record.shownDocuments.length, 1);
      assert.ok(record.shownDocuments[0]!.startsWith(path.join(beta, '.mlcontainers', 'runs', 'r1')), record.shownDocuments[0]);
    });
  });

  describe('the Experiment Images view', () => {
    let engine: FakeEngine;
    const models: ExperimentImagesModel[] = [];
    const model = (folder: string, repo: string, git: GitHistory, events?: EngineEventFeed): ExperimentImagesModel => {
      const m = new ExperimentImagesModel({
        engine: () => engine,
        git: { history: async () => git },
        folder: () => folder,
        trusted: () => true,
        projectRepo: async () => repo,
        log: silentLogger('x'),
        debounceMs: 1,
        runs: async () => [],
        ...(events ? { events } : {}),
      });
      models.push(m);
      return m;
    };

    beforeEach(() => {
      engine = new FakeEngine();
      engine.imageList = [image('a', 'alpha:1111111', C1), image('b', 'beta:2222222', C2)];
    });

    afterEach(() => {
      for (const m of models.splice(0)) m.dispose();
    });

    it('lists each folder under its own row, with its own commits and images, every row carrying its folder', async () => {
      const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
      const provider = new ImagesTreeProvider(
        workspaceImagesOf({
          [alpha]: model(alpha, 'alpha', history(C1, 'fit alpha')),
          [beta]: model(beta, 'beta', history(C2, 'fit beta')),
        }),
      );
      const roots = await provider.getChildren();
      assert.deepEqual(
        roots.map((n) => [n.kind, n.folder]),
        [
          ['folder', alpha],
          ['folder', beta],
        ],
      );
      assert.deepEqual(
        roots.map((n) => provider.getTreeItem(n).label),
        ['alpha', 'beta'],
      );
      const listed: Record<string, string[]> = {};
      const ids = new Set<string>();
      for (const folderRow of roots) {
        const [commit, ...more] = await provider.getChildren(folderRow);
        assert.deepEqual(more, []);
        assert.equal(commit?.kind, 'commit');
        assert.equal(commit?.folder, folderRow.folder);
        const images = await provider.getChildren(commit);
        assert.ok(images.every((n) => n.folder === folderRow.folder));
        listed[path.basename(folderRow.folder)] = images.map((n) => String(provider.getTreeItem(n).label));
        for (const n of [folderRow, commit!, ...images]) ids.add(String(provider.getTreeItem(n).id));
      }
      assert.deepEqual(listed, { alpha: ['alpha:1111111'], beta: ['beta:2222222'] });
      assert.equal(ids.size, 6, 'row ids collide between folders');
      provider.dispose();
    });

    it("a folder without images shows HEAD's Build row, which builds that folder", async () => {
      const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
      const provider = new ImagesTreeProvider(
        workspaceImagesOf({
          [alpha]: model(alpha, 'alpha', history(C1, 'fit alpha')),
          [beta]: model(beta, 'gamma', history(C3, 'new project')),
        }),
      );
      const [, betaRow] = await provider.getChildren();
      assert.equal(provider.getTreeItem(betaRow!).description, 'no experiment images yet');
      const [head, ...more] = await provider.getChildren(betaRow);
      assert.deepEqual(more, []);
      assert.equal(head?.kind, 'head');
      const item = provider.getTreeItem(head!);
      assert.equal(item.command?.command, 'mlContainers.images.build');
      assert.equal((item.command?.arguments?.[0] as Provider.TreeNode).folder, beta);
      provider.dispose();
    });

    it('with one folder the view is as before: its commits at the top level', async () => {
      const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
      const provider = new ImagesTreeProvider(workspaceImagesOf({ [alpha]: model(alpha, 'alpha', history(C1, 'fit alpha')) }));
      const roots = await provider.getChildren();
      assert.deepEqual(
        roots.map((n) => n.kind),
        ['commit'],
      );
      assert.equal(provider.getTreeItem(roots[0]!).id, `commit:${C1}`);
      provider.dispose();
    });

    it('folders come and go: a model is made for a new folder and disposed with a removed one', async () => {
      const made: string[] = [];
      const { WorkspaceImages } = loadFresh<typeof WorkspaceImagesModule>('src/vscode/workspaceImages');
      const images = new WorkspaceImages((folder) => (made.push(folder), model(folder, path.basename(folder), history(C1, 'x'))));
      images.setFolders([{ path: alpha, name: 'alpha' }]);
      const first = images.model(alpha);
      images.setFolders([
        { path: alpha, name: 'alpha' },
        { path: beta, name: 'beta' },
      ]);
      assert.equal(images.model(alpha), first, 'the kept folder got a new model');
      images.setFolders([{ path: beta, name: 'beta' }]);
      assert.deepEqual(made, [alpha, beta]);
      assert.equal(images.model(alpha), undefined);
      assert.deepEqual(
        images.folders().map((f) => f.name),
        ['beta'],
      );
      images.dispose();
    });

    it("every folder's model follows one engine event stream, and an image event reloads each", async () => {
      const feed = new EngineEventFeed({ engine: () => engine, trusted: () => true, log: silentLogger('x') });
      const a = model(alpha, 'alpha', history(C1, 'fit alpha'), feed);
      const b = model(beta, 'beta', history(C2, 'fit beta'), feed);
      const images = workspaceImagesOf({ [alpha]: a, [beta]: b });
      await Promise.all([a.getState(), b.getState()]);
      const watching = images.watch();
      assert.equal(engine.calls.filter((c) => c.startsWith('events')).length, 1);
      const reloaded = (m: ExperimentImagesModel): Promise<void> => new Promise((resolve) => m.onDidChange(resolve));
      const both = Promise.all([reloaded(a), reloaded(b)]);
      engine.emit({ type: 'image', action: 'tag', id: 'x', time: 1, attributes: {} });
      await within(both, "both folders' models to reload after an image event");
      watching.dispose();
      images.dispose();
    });
  });

  it("the status bar speaks of the active editor's folder, else the first one", async () => {
    record.trusted = false;
    const config = (dir: string, preset: string, variant: string): void => {
      fs.mkdirSync(path.join(dir, '.devcontainer'));
      fs.writeFileSync(
        path.join(dir, '.devcontainer', 'devcontainer.json'),
        JSON.stringify({ name: path.basename(dir), containerEnv: { MLC_PRESET: preset, MLC_VARIANT: variant } }),
      );
    };
    config(alpha, 'pytorch', 'gpu');
    config(beta, 'jax', 'cpu');
    const context = {
      subscriptions: [] as { dispose(): void }[],
      extensionPath: path.resolve(__dirname, '../../..'),
      workspaceState: fakeMemento(),
    };
    loadExtension().activate(context as never);
    const item = (): { text: string } => record.statusBarItems.find((i) => i.id === 'mlContainers.status')!;
    const shows = (text: string): Promise<void> =>
      until(
        () => item().text === text,
        () => `the status bar to read "${text}" (it reads "${item().text}")`,
      );
    await shows('$(vm) pytorch · gpu');
    record.setActiveEditor(path.join(beta, 'src', 'train.py'));
    await shows('$(vm) jax · cpu');
    record.setActiveEditor(undefined);
    await shows('$(vm) pytorch · gpu');
    for (const d of context.subscriptions) d.dispose();
  });
});
