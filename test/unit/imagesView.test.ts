import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ImageSummary } from '../../src/core/docker/engine';
import { ExperimentImagesModel } from '../../src/core/images/model';
import type { GitHistory } from '../../src/core/provenance/git';
import type * as ImageActions from '../../src/vscode/commands/imageActions';
import type * as Runs from '../../src/vscode/commands/runs';
import type { Services } from '../../src/vscode/services';
import type * as Provider from '../../src/vscode/tree/provider';
import type { FakeVscodeRecord } from '../helpers/fakeVscode';
import { installFakeVscode, loadFresh } from '../helpers/fakeVscode';
import { imageDetails } from '../helpers/images';
import { silentLogger } from '../helpers/logger';
import { FakeEngine } from './fakes/engine';

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
    const fake = installFakeVscode();
    record = fake.record;
    uninstall = fake.uninstall;
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
      engine: () => engine, git: { history: async () => history() }, folder: () => '/w', trusted: () => record.trusted, projectRepo: async () => 'dimuon', log: silentLogger('x'),
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

describe('runs in the Experiment Images view and "Run Experiment…" (fake vscode, fake engine)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let engine: FakeEngine;
  let dir: string;
  const IMAGE_ID = `sha256:${'a'.repeat(64)}`;

  beforeEach(() => {
    const fake = installFakeVscode();
    record = fake.record;
    uninstall = fake.uninstall;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-view-runs-'));
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, 'configs', 'exp.yaml'), 'lr: [0.1, 0.01]\nepochs: 1\n');
    (fake.module.workspace as { workspaceFolders: unknown[] }).workspaceFolders = [{ uri: { fsPath: dir }, name: 'dimuon', index: 0 }];
    engine = new FakeEngine();
    engine.imageList = [{ ...image('a', 'dimuon:1111111', C1), id: IMAGE_ID }];
    engine.images.set('dimuon:1111111', imageDetails({ id: IMAGE_ID, repoTags: ['dimuon:1111111'], labels: engine.imageList[0]!.labels, created: '' }));
  });

  afterEach(() => uninstall());

  const services = (model: ExperimentImagesModel): Services =>
    ({ engines: { get: () => engine }, images: model, git: { info: async () => ({ sha: C1, dirty: false }) }, log: silentLogger('x'), templatesDir: '/nonexistent' }) as unknown as Services;

  it('runs a sweep from the palette: config and command asked, output in a terminal, runs listed under the image', async () => {
    const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    const model = new ExperimentImagesModel({
      engine: () => engine, git: { history: async () => ({ head: C1, branchOrder: [C1], commits: new Map() }) }, folder: () => dir, trusted: () => true, projectRepo: async () => 'dimuon', log: silentLogger('x'),
    });
    const provider = new ImagesTreeProvider(model, () => dir);
    record.files = [path.join(dir, 'configs', 'exp.yaml'), path.join(dir, 'data', 'other.yaml')];
    record.answers.push('configs/exp.yaml');
    record.quickInputScript.push({ type: 'python train.py --epochs "1 2"' });
    engine.runScript = (cmd) => ({ output: `epoch ${cmd.at(-1) ?? ''}\n`, exitCode: 0 });
    await runsCommands.runExperimentCommand(services(model), { kind: 'image', node: { name: 'dimuon:1111111', image: { repoTags: ['dimuon:1111111'], id: IMAGE_ID } } });

    assert.equal(record.quickInputsShown.at(-1)?.value, 'python train.py', 'the first run suggests python train.py');
    assert.deepEqual([...engine.requests.values()].map((r) => r.Cmd), [['python', 'train.py', '--epochs', '1 2'], ['python', 'train.py', '--epochs', '1 2']]);
    const out = record.ptyOutput.join('');
    assert.match(out, /\[1\/2\] epoch 1 2\r\n/);
    assert.match(out, /\[2\/2\] run \S+: succeeded \(exit 0\)/);
    assert.match(record.messages.at(-1)?.text ?? '', /Sweep: 2 of 2 runs succeeded/);

    const [commit] = await provider.getChildren();
    const [imageNode] = await provider.getChildren(commit);
    const imageItem = provider.getTreeItem(imageNode!);
    assert.match(String(imageItem.description), /2 runs/);
    assert.match(String(imageItem.contextValue), /hasRuns;/);
    const runs = await provider.getChildren(imageNode);
    assert.deepEqual(runs.map((n) => n.kind), ['run', 'run']);
    const items = runs.map((n) => provider.getTreeItem(n));
    assert.deepEqual(items.map((i) => i.label).sort(), ['lr=0.01', 'lr=0.1']);
    assert.match(String(items[0]?.description), /^ok · /);
    assert.equal(items[0]?.contextValue, 'run;succeeded;sweep;');
    assert.match((items[0]?.tooltip as { value: string }).value, /python train\.py --epochs 1 2/);
    const opened = items[0]?.command?.arguments?.[0] as { fsPath: string };
    assert.ok(fs.existsSync(opened.fsPath), 'a click opens the run output');

    // A second run of the same config suggests the command it ran last, quoted back.
    record.answers.push('configs/exp.yaml');
    await runsCommands.runExperimentCommand(services(model));
    assert.equal(record.quickInputsShown.at(-1)?.value, `python train.py --epochs '1 2'`);
    provider.dispose();
    model.dispose();
  });

  it('refuses to run in Restricted Mode, before asking anything', async () => {
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    record.trusted = false;
    await assert.rejects(runsCommands.runExperimentCommand({} as Services), /runs nothing in Restricted Mode/);
    assert.equal(record.quickInputsShown.length, 0);
    assert.equal(engine.calls.length, 0);
  });

  it('splits a command like a shell, and refuses pipes and redirections (no shell runs it)', () => {
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    assert.deepEqual(runsCommands.splitCommand(`python train.py --name 'a b' $HOME`), ['python', 'train.py', '--name', 'a b', '$HOME']);
    assert.throws(() => runsCommands.splitCommand('python train.py > out.txt'), /without a shell, so ">" means nothing to it: wrap it as sh -c/);
  });
});
