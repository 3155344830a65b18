import * as assert from 'node:assert/strict';
import type { ImageSummary } from '../../src/core/docker/engine';
import { ExperimentImagesModel } from '../../src/core/images/model';
import { createLogger } from '../../src/core/log';
import type { GitHistory } from '../../src/core/provenance/git';
import type * as ImageActions from '../../src/vscode/commands/imageActions';
import type { Services } from '../../src/vscode/commands/table';
import type * as Provider from '../../src/vscode/tree/provider';
import { FakeEngine } from './fakes/engine';
import type { FakeVscodeRecord } from './fakes/vscode';
import { createFakeVscode, installFakeVscode, loadFresh } from './fakes/vscode';

const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);
const image = (id: string, tag: string, sha: string, dirty = false): ImageSummary => ({
  id: `sha256:${id.repeat(64).slice(0, 64)}`, repoTags: [tag], created: Date.now() / 1000 - 120, size: 1.5e9,
  labels: { 'org.mlcontainers.managed': 'true', 'org.opencontainers.image.revision': sha, 'org.mlcontainers.dirty': String(dirty), 'org.mlcontainers.preset': 'pytorch', 'org.mlcontainers.variant': 'gpu' },
});

describe('Experiment Images view (fake vscode over the real model)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let engine: FakeEngine;
  let model: ExperimentImagesModel;
  let provider: Provider.ImagesTreeProvider;
  let head = C2;

  beforeEach(() => {
    const fake = createFakeVscode();
    record = fake.record;
    uninstall = installFakeVscode(fake.module);
    const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
    engine = new FakeEngine();
    engine.imageList = [image('a', 'dimuon:1111111', C1), image('b', 'dimuon:1111111-dirty', C1, true)];
    head = C2;
    const history = (): GitHistory => ({
      head,
      branchOrder: [C2, C1],
      commits: new Map([[C2, { sha: C2, subject: 'tune lr', author: 'Ada', date: new Date().toISOString() }], [C1, { sha: C1, subject: 'first', author: 'Ada', date: new Date().toISOString() }]]),
    });
    model = new ExperimentImagesModel({
      engine: () => engine, git: { history: async () => history() }, folder: () => '/w', trusted: () => record.trusted, projectRepo: async () => 'dimuon', log: createLogger({ write: () => undefined }, 'x'),
    });
    provider = new ImagesTreeProvider(model, () => '/w');
  });

  afterEach(() => {
    provider.dispose();
    model.dispose();
    uninstall();
  });

  it('shows "HEAD: no image yet — Build" above the commits that have images', async () => {
    const roots = await provider.getChildren();
    assert.deepEqual(roots.map((n) => n.kind), ['head', 'commit']);
    const headItem = provider.getTreeItem(roots[0]!);
    assert.equal(headItem.label, 'HEAD 2222222: no image yet — Build');
    assert.equal(headItem.command?.command, 'mlContainers.images.build');
    const commit = provider.getTreeItem(roots[1]!);
    assert.equal(commit.label, '1111111  first');
    assert.equal(commit.contextValue, 'commitGroup;onBranch;commit;');
    const images = await provider.getChildren(roots[1]);
    const items = images.map((n) => provider.getTreeItem(n));
    assert.deepEqual(items.map((i) => i.label), ['dimuon:1111111', 'dimuon:1111111-dirty']);
    assert.match(String(items[1]?.description), /^dirty · 1\.5 GB · 2m ago$/);
    assert.equal(items[1]?.contextValue, 'image;dirty;commit;');
    assert.ok(record.executed.includes('setContext'));
  });

  it('opens an image row once a container runs in it (a new id, since VS Code keeps collapsed state by id)', async () => {
    const [, commit] = await provider.getChildren();
    const [first] = await provider.getChildren(commit);
    assert.ok(first?.kind === 'image');
    const idle = provider.getTreeItem(first);
    assert.equal(idle.collapsibleState, 0);
    const container = { id: 'c1', name: 'mlc-jupyter-1', role: 'jupyter', state: 'running', status: 'Up 1 second', jupyterUrl: 'http://127.0.0.1:49153' };
    const running = provider.getTreeItem({ ...first, node: { ...first.node, containers: [container as never] } });
    assert.equal(running.collapsibleState, 2);
    assert.notEqual(running.id, idle.id);
  });

  it('builds the Markdown tooltip on hover: preset, commit, labels', async () => {
    const [, commit] = await provider.getChildren();
    const [first] = await provider.getChildren(commit);
    const item = await provider.resolveTreeItem(provider.getTreeItem(first!), first!);
    const md = (item.tooltip as { value: string }).value;
    assert.match(md, /Preset: pytorch \(gpu\)/);
    assert.match(md, /Commit: first — Ada/);
    assert.match(md, /\| `org\.opencontainers\.image\.revision` \| 1{40} \|/);
    assert.match(md, /No environment lock recorded/);
  });

  it('shows nothing (the welcome content) when the engine is down, and says so through the context key', async () => {
    engine.listImages = () => Promise.reject(new Error('down'));
    assert.deepEqual(await provider.getChildren(), []);
    assert.ok(record.executed.filter((c) => c === 'setContext').length >= 1);
  });

  it('refuses to delete an image a container still uses, and asks before deleting otherwise', async () => {
    const actions = loadFresh<typeof ImageActions>('src/vscode/commands/imageActions');
    const [, commit] = await provider.getChildren();
    const [node] = await provider.getChildren(commit);
    if (node?.kind !== 'image') throw new Error('no image node');
    const services = { engines: { get: () => engine }, images: model } as unknown as Services;
    const used = { ...node, node: { ...node.node, containers: [{ id: 'c', name: 'dimuon-1111111-jupyter', state: 'running', status: 'Up', role: 'jupyter', jupyterUrl: undefined }] } };
    await assert.rejects(actions.deleteImageCommand(services, used), /is used by dimuon-1111111-jupyter: stop and remove it first/);
    await actions.deleteImageCommand(services, node);
    assert.ok(!engine.calls.includes('removeImage'), 'deleted without a confirmation');
    record.answers.push('Delete');
    await actions.deleteImageCommand(services, node);
    assert.ok(engine.calls.includes('removeImage'));
  });
});
