import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExperimentImagesModel } from '../../../src/core/images/model';
import type { CompareChart, ComparePayload, PackedChart } from '../../../src/core/run/comparePayload';
import type { RunRecord } from '../../../src/core/run/records';
import { appendRun } from '../../../src/core/run/records';
import type * as CompareRuns from '../../../src/vscode/commands/compareRuns';
import type { Services } from '../../../src/vscode/services';
import type * as Provider from '../../../src/vscode/tree/provider';
import type { TreeNode } from '../../../src/vscode/tree/provider';
import type { FakeVscodeRecord } from '../../helpers/fakeVscode';
import { fakeMemento, installFakeVscode, loadExtension, loadFresh, workspaceImagesOf } from '../../helpers/fakeVscode';
import { imageDetails } from '../../helpers/images';
import { silentLogger } from '../../helpers/logger';
import { runRecord } from '../../helpers/runs';
import { FakeEngine } from '../fakes/engine';

/** A posted chart back as arrays (NaN a gap: null), to compare with what the runs wrote. */
function unpack(posted: unknown): CompareChart {
  const c = posted as PackedChart;
  assert.ok(c.steps instanceof Float64Array && c.values instanceof Float64Array, 'a chart is posted as typed arrays');
  const n = c.steps.length;
  const rows = Array.from({ length: n ? c.values.length / n : 0 }, (_, r) =>
    Array.from(c.values.subarray(r * n, (r + 1) * n), (v) => (Number.isNaN(v) ? null : v)),
  );
  return { metric: c.metric, steps: Array.from(c.steps), values: rows };
}

const MEDIA = path.resolve(__dirname, '../../../media');
const IMAGE_ID = `sha256:${'a'.repeat(64)}`;

describe('Compare Runs and the headline metric (fake vscode, real run records and metrics files)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let dir: string;
  let commands: typeof CompareRuns;
  const services = { mediaDir: MEDIA, log: silentLogger('x') } as unknown as Services;
  const sweep = (index: number): RunRecord['sweep'] => ({ id: 'sw1', index, size: 2 });
  const node = (run: RunRecord): TreeNode => ({ folder: dir, kind: 'run', run, image: {} as never });

  /** A run on record, with the metrics.jsonl its training code wrote. */
  async function recorded(run: RunRecord, lines: object[]): Promise<RunRecord> {
    const folder = path.join(dir, '.mlcontainers', 'runs', run.id);
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    await appendRun(dir, run);
    return run;
  }

  beforeEach(() => {
    const fake = installFakeVscode();
    record = fake.record;
    uninstall = fake.uninstall;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-compare-view-'));
    (fake.module.workspace as { workspaceFolders: unknown[] }).workspaceFolders = [{ uri: { fsPath: dir }, name: 'dimuon', index: 0 }];
    commands = loadFresh<typeof CompareRuns>('src/vscode/commands/compareRuns');
  });

  afterEach(() => {
    uninstall();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('opens one webview for the selected rows, locked down (CSP with a nonce, media/ only, nothing remote), fed by messages', async () => {
    const a = await recorded(runRecord('a', { params: { lr: 0.1 }, sweep: sweep(0), last: { loss: 0.5, acc: 0.8 } }), [
      { step: 0, loss: 1, acc: 0.5 },
      { step: 1, loss: 0.5, acc: 0.8 },
    ]);
    const b = await recorded(runRecord('b', { params: { lr: 0.01 }, sweep: sweep(1), last: { loss: 0.3, acc: 0.7 } }), [
      { step: 0, loss: 0.9, acc: 0.4 },
      { step: 2, loss: 0.3, acc: 0.7 },
    ]);
    await recorded(runRecord('other', { last: { loss: 9 } }), [{ step: 0, loss: 9 }]);

    await commands.compareRunsCommand(services, node(a), [node(a), node(b)]);
    assert.equal(record.webviewPanels.length, 1);
    const panel = record.webviewPanels[0]!;
    assert.equal(panel.title, 'Compare 2 Runs');
    assert.equal(panel.options.enableScripts, true);
    assert.deepEqual(
      panel.options.localResourceRoots?.map((u) => u.fsPath),
      [MEDIA],
    );
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(panel.html)?.[1] ?? '';
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce, `no nonce in ${csp}`);
    assert.match(
      csp,
      /^default-src 'none'; script-src https:\/\/fake\.vscode-cdn\.net 'nonce-[^']+'; style-src https:\/\/fake\.vscode-cdn\.net; img-src https:\/\/fake\.vscode-cdn\.net/,
    );
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    const scripts = [...panel.html.matchAll(/<script ([^>]*)>/g)].map((m) => m[1]!);
    assert.deepEqual(
      scripts.map((s) => /src="[^"]*\/media\/(\S+)"/.exec(s)?.[1]),
      ['vendor/uPlot.iife.min.js', 'compare/compare.js'],
    );
    assert.ok(scripts.every((s) => s.includes(`nonce="${nonce}"`)));
    assert.doesNotMatch(
      panel.html.replace(/https:\/\/(file\+\.vscode-resource\.)?fake\.vscode-cdn\.net/g, ''),
      /https?:\/\//,
      'nothing loads from the network',
    );
    assert.doesNotMatch(panel.html, /<style|style="/, 'styles come from the stylesheet files');
    for (const file of ['compare/compare.js', 'compare/compare.css'])
      assert.ok(fs.existsSync(path.join(MEDIA, file)), `media/${file} is missing`);

    // The page asks once it has loaded: the table, and the first metric's chart from the runs' metrics files.
    const data = panel.next('data');
    panel.receive({ type: 'ready' });
    const { payload, chosen } = (await data) as { payload: ComparePayload; chosen: string[] };
    assert.deepEqual(
      payload.runs.map((r) => r.id),
      ['a', 'b'],
    );
    assert.deepEqual(payload.best, { 'metric:loss': 'b', 'metric:acc': 'a' });
    assert.deepEqual(chosen, ['loss']);
    assert.deepEqual(
      payload.charts.map(unpack),
      [
        {
          metric: 'loss',
          steps: [0, 1, 2],
          values: [
            [1, 0.5, null],
            [0.9, null, 0.3],
          ],
        },
      ],
      'charts travel packed in typed arrays',
    );

    // Ticking another metric asks for its chart; a metric the runs do not have is ignored.
    const chart = panel.next('chart');
    panel.receive({ type: 'chart', metric: 'nope' });
    panel.receive({ type: 'chart', metric: 'acc' });
    assert.deepEqual(unpack((await chart).chart), {
      metric: 'acc',
      steps: [0, 1, 2],
      values: [
        [0.5, 0.8, null],
        [0.4, null, 0.7],
      ],
    });

    // Another comparison reuses the panel: new title, revealed, the page told afresh.
    const again = panel.next('data');
    await commands.compareSweepCommand(services, node(a));
    assert.equal(record.webviewPanels.length, 1);
    assert.equal(panel.title, 'Sweep sw1');
    assert.equal(panel.reveals, 1);
    assert.deepEqual(
      ((await again) as { payload: ComparePayload }).payload.runs.map((r) => r.id),
      ['a', 'b'],
    );
    assert.deepEqual(((await again) as { chosen: string[] }).chosen, ['loss', 'acc'], 'the metrics chosen so far stay chosen');

    // Closed, the next comparison opens a new one.
    panel.close();
    await commands.compareRunsCommand(services, node(a), [node(a), node(b)]);
    assert.equal(record.webviewPanels.length, 2);
  });

  it("charts the headline metric first when the setting names one, and reads a running run's metrics from its files", async () => {
    const a = await recorded(runRecord('a', { last: { loss: 0.5, val_acc: 0.8 } }), [{ step: 0, loss: 0.5, val_acc: 0.8 }]);
    const live = await recorded(runRecord('live', { status: 'running', exitCode: null, end: null }), [
      { step: 0, loss: 0.7, val_acc: 0.6 },
      { step: 1, loss: 0.6, val_acc: 0.9 },
    ]);
    record.config['mlContainers.runs.headlineMetric'] = 'val_acc';
    await commands.compareRunsCommand(services, node(a), [node(a), node(live)]);
    const panel = record.webviewPanels[0]!;
    const data = panel.next('data');
    panel.receive({ type: 'ready' });
    const { payload, chosen } = (await data) as { payload: ComparePayload; chosen: string[] };
    assert.deepEqual(chosen, ['val_acc']);
    assert.equal(payload.rows[1]![payload.columns.findIndex((c) => c.key === 'metric:val_acc')]!.text, '0.9');
    assert.deepEqual(payload.best, { 'metric:loss': 'a', 'metric:val_acc': 'live' });
  });

  it('from the palette, offers recent runs to tick (a clicked row comes ticked); nothing ticked opens nothing', async () => {
    await recorded(runRecord('old', { start: '2026-11-25T09:00:00Z', params: { lr: 0.1 }, last: { loss: 0.5 } }), []);
    const newer = await recorded(runRecord('new', { start: '2026-11-25T11:00:00Z', params: { lr: 0.01 } }), []);
    await commands.compareRunsCommand(services);
    assert.equal(record.multiPicks.length, 1);
    assert.deepEqual(
      record.multiPicks[0]!.items.map((i) => [i.label, i.picked]),
      [
        ['lr=0.01', false],
        ['lr=0.1', false],
      ],
      'newest first',
    );
    assert.match(record.multiPicks[0]!.items[1]!.description ?? '', /^succeeded · loss 0\.5 · /);
    assert.equal(record.webviewPanels.length, 0, 'dismissed: no panel');

    record.answers.push('lr=0.1');
    await commands.compareRunsCommand(services, node(newer));
    assert.deepEqual(
      record.multiPicks[1]!.items.map((i) => i.picked),
      [true, false],
    );
    assert.equal(record.webviewPanels[0]?.title, 'Compare 2 Runs');
  });

  it('says what to do when Compare Sweep is asked of a run outside a sweep', async () => {
    await commands.compareSweepCommand(services, node(runRecord('x')));
    assert.match(record.messages.at(-1)?.text ?? '', /not part of a sweep: select runs and use Compare Runs/);
    assert.equal(record.webviewPanels.length, 0);
  });

  it('shows the headline metric on run rows and every metric in the tooltip', async () => {
    const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
    const engine = new FakeEngine();
    engine.imageList = [
      {
        id: IMAGE_ID,
        repoTags: ['dimuon:1111111'],
        created: Date.now() / 1000,
        size: 1e9,
        labels: { 'org.mlcontainers.managed': 'true', 'org.opencontainers.image.revision': '1'.repeat(40) },
      },
    ];
    engine.images.set(
      'dimuon:1111111',
      imageDetails({ id: IMAGE_ID, repoTags: ['dimuon:1111111'], labels: engine.imageList[0]!.labels, created: '' }),
    );
    const image = { id: IMAGE_ID, ref: 'dimuon:1111111', tags: ['dimuon:1111111'], revision: '1'.repeat(40), dirty: false };
    await appendRun(dir, runRecord('r1', { image, last: { train_loss: 0.52, val_loss: 0.3125 } }));
    await appendRun(dir, runRecord('r2', { image }));
    const model = new ExperimentImagesModel({
      engine: () => engine,
      git: { history: async () => ({ head: '1'.repeat(40), branchOrder: ['1'.repeat(40)], commits: new Map() }) },
      folder: () => dir,
      trusted: () => true,
      projectRepo: async () => 'dimuon',
      log: silentLogger('x'),
    });
    const provider = new ImagesTreeProvider(workspaceImagesOf({ [dir]: model }));
    const [commit] = await provider.getChildren();
    const [imageNode] = await provider.getChildren(commit);
    const rows = await provider.getChildren(imageNode);
    const items = () => rows.map((n) => provider.getTreeItem(n));
    const byId = (id: string) => items().find((i) => i.id === `run:${id}`)!;
    assert.match(String(byId('r1').description), /^ok · train_loss 0\.52 · 1m 00s · /);
    assert.match(String(byId('r2').description), /^ok · 1m 00s · /, 'no metrics: nothing in between');
    assert.match((byId('r1').tooltip as { value: string }).value, /\| val\\_loss \| 0\.3125 \| 0\.3125 \| 0\.3125 \| 10 \|/);
    record.config['mlContainers.runs.headlineMetric'] = 'val_loss';
    assert.match(String(byId('r1').description), /^ok · val_loss 0\.3125 · /);
    provider.dispose();
    model.dispose();
  });

  it('lets the Experiment Images view select several rows, and registers both commands', () => {
    const extension = loadExtension();
    const context = {
      subscriptions: [] as { dispose(): void }[],
      extensionPath: path.resolve(__dirname, '../../..'),
      workspaceState: fakeMemento(),
    };
    extension.activate(context as never);
    assert.equal((record.treeViews.get('mlContainers.images') as { canSelectMany?: boolean }).canSelectMany, true);
    assert.ok(record.commands.has('mlContainers.runs.compare'));
    assert.ok(record.commands.has('mlContainers.runs.compareSweep'));
    for (const d of context.subscriptions) d.dispose();
  });
});
