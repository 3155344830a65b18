import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as TarStream from 'tar-stream';
import { formatModel } from '../../../../src/cli/inspect';
import type { BuildRequest, Engine, ImageSummary } from '../../../../src/core/docker/engine';
import { BASE_DIGEST_LABEL, BASE_LABEL, LOCK_SHA256_LABEL, REVISION_LABEL, ROLE_LABEL } from '../../../../src/core/labels';
import {
  CARD_JSON,
  MODEL_LABELS,
  cardJson,
  cardMarkdown,
  headlineMetric,
  labelInstruction,
  labelJson,
  modelCard,
  modelLabels,
  readModelLabels,
} from '../../../../src/core/model/card';
import { ArtifactChangedError, hashHandle, modelContext, packModelContext } from '../../../../src/core/model/context';
import { listModels, splitTags, tagModel } from '../../../../src/core/model/list';
import { saveModel } from '../../../../src/core/model/save';
import { OutputsError, configOutputs, outputPatternProblem, parseOutputs } from '../../../../src/core/run/outputs';
import type { RunRecord } from '../../../../src/core/run/records';
import { RUNS_FILE, startRecord } from '../../../../src/core/run/records';
import { expandConfig } from '../../../../src/core/run/sweep';
import { mlcInProcess } from '../../../helpers/cli';
import { imageDetails } from '../../../helpers/images';
import { silentLogger } from '../../../helpers/logger';
import { startedRecord } from '../../../helpers/runRecords';
import { FakeEngine } from '../../fakes/engine';

const COMMIT = '3f2a1bc9d0e8aa11bb22cc33dd44ee55ff667788';
const IMAGE_COMMIT = '0000000000000000000000000000000000000001';
const LOCK = 'c'.repeat(64);
const BASE_DIGEST = `sha256:${'d'.repeat(64)}`;
const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/** A sweep point that succeeded, with metrics as the record keeps them. */
function finishedRecord(id: string, over: Partial<RunRecord> = {}): RunRecord {
  const summary = (last: number | string) => ({ source: 'metrics.jsonl', last, lastStep: 8, min: 0, max: 1, steps: 8, nans: 0 });
  return startedRecord(id, {
    status: 'succeeded',
    exitCode: 0,
    end: '2026-12-05T10:00:00.000Z',
    start: '2026-12-05T09:59:00.000Z',
    commit: COMMIT,
    dirty: true,
    config: { path: 'configs/experiment.yaml', sha256: 'b'.repeat(64), content: 'lr: 0.01\noutputs: [model.pt]\n' },
    params: { 'optimizer.lr': 0.01 },
    sweep: { id: id.replace(/-\d+$/, ''), index: 1, size: 2 },
    metrics: {
      metrics: { train_loss: summary(0.12), val_loss: summary(0.2), val_acc: summary(0.9694) },
      skipped: 0,
    } as unknown as RunRecord['metrics'],
    ...over,
  });
}

const trainingLabels = {
  [REVISION_LABEL]: IMAGE_COMMIT,
  [BASE_LABEL]: 'python:3.12-slim',
  [BASE_DIGEST_LABEL]: BASE_DIGEST,
  [LOCK_SHA256_LABEL]: LOCK,
};

describe('model card and labels (pure)', () => {
  const artifacts = [
    { name: 'model.pt', sha256: 'e'.repeat(64), size: 1234 },
    { name: 'extra/a.bin', sha256: 'f'.repeat(64), size: 1 },
  ];

  it('the card names the run, sweep point, params, final metrics, commit, config hash, training image, base digest, lock and artifacts, and holds no time', () => {
    const record = finishedRecord('20261205-095900-ab12-2');
    const card = modelCard(record, trainingLabels, artifacts);
    assert.equal(card.run, '20261205-095900-ab12-2');
    assert.deepEqual(card.sweep, { id: '20261205-095900-ab12', index: 1, size: 2 });
    assert.deepEqual(card.params, { 'optimizer.lr': 0.01 });
    assert.deepEqual(card.metrics, { train_loss: 0.12, val_loss: 0.2, val_acc: 0.9694 });
    assert.equal(card.headline, 'val_acc');
    assert.equal(card.commit, COMMIT, "the run's commit, not the training image's");
    assert.equal(card.dirty, true);
    assert.deepEqual(card.config, { path: 'configs/experiment.yaml', sha256: 'b'.repeat(64) });
    assert.deepEqual(card.image, { id: record.image.id, ref: 'dimuon:latest', base: 'python:3.12-slim', baseDigest: BASE_DIGEST });
    assert.deepEqual(card.environment, { lock: '/etc/mlc/environment.lock', sha256: LOCK });
    assert.deepEqual(
      card.artifacts.map((a) => a.name),
      ['extra/a.bin', 'model.pt'],
      'sorted by name',
    );
    assert.deepEqual(card.data, []);
    const text = cardJson(card);
    assert.ok(!text.includes('2026-12-05'), 'no time in the card');
    assert.equal(
      text,
      cardJson(
        modelCard(
          finishedRecord('20261205-095900-ab12-2', { start: '2030-01-01T00:00:00Z', end: '2030-01-01T01:00:00Z' }),
          trainingLabels,
          [...artifacts].reverse(),
        ),
      ),
      'the same run gives the same bytes',
    );
  });

  it('a record whose commit is not a sha, or whose image has no lock, gives null rather than what it holds', () => {
    const card = modelCard(finishedRecord('r1', { commit: 'HEAD; rm -rf /', sweep: null }), {}, artifacts);
    assert.equal(card.commit, null);
    assert.equal(card.sweep, null);
    assert.equal(card.environment, null);
    assert.deepEqual(card.image, { id: imageDetails().id, ref: 'dimuon:latest', base: null, baseDigest: null });
  });

  it("labels carry the same facts, the revision is the run's commit, and reading them back gives the card's facts", () => {
    const card = modelCard(finishedRecord('20261205-095900-ab12-2'), trainingLabels, artifacts);
    const labels = modelLabels(card, sha(cardJson(card)));
    assert.equal(labels[ROLE_LABEL], 'model');
    assert.equal(labels[MODEL_LABELS.run], card.run);
    assert.equal(labels[REVISION_LABEL], COMMIT);
    assert.equal(labels[MODEL_LABELS.cardSha256], sha(cardJson(card)));
    assert.ok(
      Object.values(labels).every((v) => typeof v === 'string' && !v.includes('2026-12-05')),
      'no time in a label',
    );
    const facts = readModelLabels(labels)!;
    assert.equal(facts.run, card.run);
    assert.deepEqual(facts.sweep, card.sweep);
    assert.deepEqual(facts.params, card.params);
    assert.deepEqual({ ...facts.metrics }, card.metrics);
    assert.equal(facts.headline, 'val_acc');
    assert.equal(facts.commit, COMMIT);
    assert.equal(facts.dirty, true);
    assert.deepEqual(facts.config, card.config);
    assert.deepEqual(facts.image, { id: card.image.id, ref: card.image.ref });
    assert.equal(facts.baseDigest, BASE_DIGEST);
    assert.equal(facts.lockSha256, LOCK);
    assert.deepEqual(facts.artifacts, card.artifacts);
    assert.deepEqual(facts.data, []);
  });

  it('names the data the run saw, from its record, in the card and the labels alike', () => {
    const data = [
      {
        from: 'mount' as const,
        source: '/data/digits',
        target: '/data',
        fingerprint: { manifest: 'c'.repeat(64), files: 3, bytes: 300, contentId: `dvc-md5:${'d'.repeat(32)}` },
      },
    ];
    const card = modelCard(finishedRecord('20261205-095900-ab12-2', { data }), trainingLabels, artifacts);
    assert.deepEqual(card.data, data);
    assert.deepEqual(readModelLabels(modelLabels(card, sha(cardJson(card))))!.data, data);
    // A label from elsewhere whose data is not a list of inputs is none, not trusted.
    const forged = { ...modelLabels(card, sha(cardJson(card))), [MODEL_LABELS.data]: '[{"from":"mount","source":1}]' };
    assert.equal(readModelLabels(forged)!.data, undefined);
  });

  it("a run without a commit blanks the inherited revision instead of passing the training image's off as the model's", () => {
    const labels = modelLabels(modelCard(finishedRecord('r1', { commit: null, dirty: false }), trainingLabels, artifacts), 'a'.repeat(64));
    assert.equal(labels[REVISION_LABEL], '');
    assert.equal(labels[MODEL_LABELS.commit], undefined);
    assert.equal(readModelLabels(labels)!.commit, undefined);
  });

  it("$ in a JSON label is escaped for Podman's builder and reads back as $", () => {
    assert.equal(labelJson({ a: '${HOME}' }), '{"a":"\\u0024{HOME}"}');
    const card = modelCard(finishedRecord('r1', { params: { path: '${HOME}/x' } }), {}, artifacts);
    const labels = modelLabels(card, 'a'.repeat(64));
    assert.ok(!labels[MODEL_LABELS.params]!.includes('$'));
    assert.deepEqual(readModelLabels(labels)!.params, { path: '${HOME}/x' });
  });

  it('a LABEL instruction escapes \\, " and $ and keeps the value on its line', () => {
    assert.equal(labelInstruction('k', 'a"b\\c${HOME}\nd'), 'LABEL "k"="a\\"b\\\\c\\${HOME} d"');
  });

  it('a JSON label too large for a Dockerfile line is left out and named, the card keeps it', () => {
    const card = modelCard(finishedRecord('r1', { params: { big: 'x'.repeat(70 * 1024) } }), {}, artifacts);
    const labels = modelLabels(card, 'a'.repeat(64));
    assert.equal(labels[MODEL_LABELS.params], undefined);
    assert.deepEqual(readModelLabels(labels)!.cut, [MODEL_LABELS.params]);
    assert.match(cardJson(card), /"big": "x{100}/);
  });

  it('labels from another registry are checked: not a model → undefined; malformed ids, hashes, JSON and metric values are dropped', () => {
    assert.equal(readModelLabels({ [MODEL_LABELS.run]: 'r1' }), undefined, 'no role label');
    assert.equal(readModelLabels(undefined), undefined);
    const facts = readModelLabels({
      [ROLE_LABEL]: 'model',
      [MODEL_LABELS.run]: '../../etc',
      [MODEL_LABELS.commit]: 'not-a-sha',
      [MODEL_LABELS.imageId]: 'sha256:xyz',
      [MODEL_LABELS.cardSha256]: 'short',
      [MODEL_LABELS.params]: '{not json',
      [MODEL_LABELS.metrics]: '{"acc":0.5,"evil":"$(rm -rf /)","__proto__":1,"n":null}',
      [MODEL_LABELS.artifacts]:
        '[{"name":"m.pt","sha256":"zz","size":1},{"name":"ok.pt","sha256":"' +
        'a'.repeat(64) +
        '","size":-1},{"name":"good.pt","sha256":"' +
        'a'.repeat(64) +
        '","size":3}]',
    })!;
    assert.equal(facts.run, undefined);
    assert.equal(facts.commit, undefined);
    assert.equal(facts.image, undefined);
    assert.equal(facts.cardSha256, undefined);
    assert.equal(facts.params, undefined);
    assert.deepEqual(Object.entries(facts.metrics!), [
      ['acc', 0.5],
      ['__proto__', 1],
    ]);
    assert.equal(Object.getPrototypeOf(facts.metrics), null, 'a metric named __proto__ is a key, not a prototype');
    assert.deepEqual(facts.artifacts, [{ name: 'good.pt', sha256: 'a'.repeat(64), size: 3 }]);
  });

  it('inspect shows label values with control and invisible characters escaped', () => {
    const rows = formatModel({
      dirty: false,
      run: 'r1',
      metrics: { '\x1b]52;c;AAAA\x07acc': 0.5 },
      artifacts: [{ name: 'a\nb\u202e.pt', sha256: 'a'.repeat(64), size: 1 }],
      config: { path: 'x\ry' },
    });
    const text = rows.map((r) => r.join(' ')).join('\n');
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(text, /[\x00-\x08\x0b-\x1f\x7f\u202e]/);
    assert.match(text, /"\\x1b\]52;c;AAAA\\x07acc"=0\.5/);
    assert.match(text, /"a\\nb\\u202e\.pt"/);
  });

  it('MODEL_CARD.md keeps each value on its line and out of the table syntax', () => {
    const card = modelCard(
      finishedRecord('r1', {
        metrics: {
          metrics: { 'a|b\n# injected': { source: 'metrics.jsonl', last: 1, lastStep: 1, min: 1, max: 1, steps: 1, nans: 0 } },
          skipped: 0,
        } as unknown as RunRecord['metrics'],
      }),
      {},
      artifacts,
    );
    const md = cardMarkdown(card);
    assert.ok(!md.split('\n').includes('# injected'));
    assert.match(md, /- a\\\|b # injected: 1/);
    assert.match(md, /\| model\.pt \| 1234 \| e{64} \|/);
  });

  it('the headline metric is a held-out score, then a held-out loss, then the first', () => {
    assert.equal(headlineMetric(['train_loss', 'val_loss', 'val_acc']), 'val_acc');
    assert.equal(headlineMetric(['train_loss', 'val_loss']), 'val_loss');
    assert.equal(headlineMetric(['loss', 'accuracy']), 'accuracy');
    assert.equal(headlineMetric(['loss']), 'loss');
    assert.equal(headlineMetric(['validity', 'x']), 'validity', '"validity" is not a held-out prefix; it is simply the first');
    assert.equal(headlineMetric([]), undefined);
  });
});

describe('outputs: in the experiment YAML', () => {
  it('takes a name or a list of relative names and globs', () => {
    assert.deepEqual(parseOutputs('model.pt', 'x.yaml'), ['model.pt']);
    assert.deepEqual(parseOutputs(['model.pt', 'checkpoints/*.pt', 'model.pt'], 'x.yaml'), ['model.pt', 'checkpoints/*.pt']);
  });

  it('refuses what would leave the run folder or is no file name, saying what to write', () => {
    for (const [bad, why] of [
      ['../model.pt', /climbs out/],
      ['/etc/passwd', /absolute/],
      ['./model.pt', /\. part/],
      ['a//b', /empty part/],
      ['a\\b', /backslash/],
      ['a\nb', /control/],
      ['a[b', /\[ without/],
      ['', /empty/],
    ] as const) {
      assert.match(outputPatternProblem(bad) ?? '', why, bad);
      assert.throws(
        () => parseOutputs([bad], 'configs/x.yaml'),
        (e: Error) =>
          e instanceof OutputsError && /^configs\/x\.yaml: outputs entry .* write a relative name such as model\.pt\.$/.test(e.message),
      );
    }
    assert.throws(() => parseOutputs({ a: 1 }, 'x.yaml'), /outputs must be a file name or a list of them/);
    assert.throws(() => parseOutputs([], 'x.yaml'), /outputs must be a file name or a list of them/);
    assert.throws(() => parseOutputs([1], 'x.yaml'), /outputs must be a file name or a list of them/);
  });

  it('is not a sweep axis, and a bad one stops the run when it is planned', () => {
    const { points, axes } = expandConfig('lr: [0.1, 0.01]\noutputs: [model.pt, extra.bin]\n', 'exp.yaml');
    assert.deepEqual(
      axes.map((a) => a.key),
      ['lr'],
    );
    assert.equal(points.length, 2);
    assert.match(points[1]!.text, /outputs: \[ model\.pt, extra\.bin \]/);
    assert.deepEqual(configOutputs(points[1]!.text, 'exp.yaml'), ['model.pt', 'extra.bin']);
    // Nested `outputs` is an ordinary hyper-parameter.
    assert.equal(expandConfig('model:\n  outputs: [1, 2]\n', 'exp.yaml').points.length, 2);
    assert.throws(
      () => expandConfig('outputs: [../../.ssh/id_rsa]\n', 'exp.yaml'),
      /exp\.yaml: outputs entry "\.\.\/\.\.\/\.ssh\/id_rsa" is not a file in the run folder \(it climbs out/,
    );
  });

  it("a run's record keeps its config's outputs as it started (null when it lists none), so a save reads no YAML", () => {
    const start = (text: string): RunRecord =>
      startRecord({
        plan: {
          id: 'p',
          sweep: false,
          image: finishedRecord('20261205-095900-ab12-1').image,
          commit: null,
          dirty: false,
          code: 'workspace',
          config: { path: 'configs/x.yaml' },
          command: ['python', 'train.py'],
          points: [0],
        },
        point: { runId: '20261205-095900-ab12-1', index: 0, params: {}, text, sha256: sha(text) },
        start: new Date(0).toISOString(),
        gpus: 'none',
        env: [],
        container: 'c',
      });
    assert.deepEqual(start('lr: 0.1\noutputs: [model.pt, "ckpt/*.pt"]\n').outputs, ['model.pt', 'ckpt/*.pt']);
    assert.equal(start('lr: 0.1\n').outputs, null);
    assert.equal(start('outputs: [../up]\n').outputs, undefined, 'one the plan would refuse is left to the save to refuse');
  });

  it('the quickstart example declares model.pt', () => {
    const text = fs.readFileSync(path.resolve(__dirname, '../../../../templates/examples/pytorch-digits/configs/experiment.yaml'), 'utf8');
    assert.deepEqual(configOutputs(text, 'experiment.yaml'), ['model.pt']);
    assert.equal(expandConfig(text, 'experiment.yaml').points.length, 2, 'still the two learning rates');
  });
});

/** Every entry of a tar stream: name, header and content. */
async function untar(
  stream: NodeJS.ReadableStream,
): Promise<{ name: string; type: string; mode: number; mtime: number; uid: number; data: Buffer }[]> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const extract = (require('tar-stream') as typeof TarStream).extract();
  const out: { name: string; type: string; mode: number; mtime: number; uid: number; data: Buffer }[] = [];
  extract.on('entry', (h, s, next) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: unknown) => chunks.push(c as Buffer));
    s.on('end', () => {
      out.push({
        name: h.name,
        type: h.type ?? 'file',
        mode: h.mode ?? 0,
        mtime: h.mtime?.getTime() ?? -1,
        uid: h.uid ?? -1,
        data: Buffer.concat(chunks),
      });
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve).on('error', reject);
    stream.on('error', reject);
    stream.pipe(extract);
  });
  return out;
}

/** A FakeEngine whose builds keep their request and their context's entries. */
class BuildingEngine extends FakeEngine {
  readonly builds: { request: BuildRequest; entries: Awaited<ReturnType<typeof untar>> }[] = [];
  override async build(...[context, request]: Parameters<Engine['build']>): Promise<string> {
    this.calls.push('build');
    const entries = await untar(context as NodeJS.ReadableStream);
    this.builds.push({ request, entries });
    return `sha256:${sha(JSON.stringify({ request: { ...request, tags: [] }, entries: entries.map((e) => ({ ...e, data: e.data.toString('base64') })) }))}`;
  }
}

describe('mlc model save against a fake engine (the run folder is real)', () => {
  let dir: string;
  let engine: BuildingEngine;
  const runId = '20261205-095900-ab12-2';
  const runDir = (): string => path.join(dir, '.mlcontainers', 'runs', runId);
  const writeRuns = (...records: RunRecord[]): void => {
    fs.mkdirSync(path.join(dir, '.mlcontainers'), { recursive: true });
    fs.writeFileSync(path.join(dir, RUNS_FILE), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  };
  const save = (o: { run?: string; files?: string[]; name?: string } = {}) =>
    saveModel({
      engine,
      workspace: dir,
      run: o.run ?? runId,
      log: silentLogger('model'),
      ...(o.files ? { files: o.files } : {}),
      ...(o.name ? { name: o.name } : {}),
    });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-model-'));
    engine = new BuildingEngine();
    engine.images.set(imageDetails().id, imageDetails({ labels: trainingLabels }));
    writeRuns(finishedRecord(runId));
    fs.mkdirSync(runDir(), { recursive: true });
    fs.writeFileSync(path.join(runDir(), 'model.pt'), 'weights-1');
    fs.writeFileSync(path.join(runDir(), 'metrics.jsonl'), '{"step":1,"val_acc":0.9694}\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("builds FROM a tag of the run's image id with the artifact and the card in /opt/mlc/model, every entry root-owned at the epoch, tagged <name>:<run>", async () => {
    const saved = await save();
    assert.equal(saved.tag, `dimuon-model:${runId}`);
    assert.ok(engine.calls.includes(`tagImage ${imageDetails().id} dimuon-model:mlc-from-${runId}`), engine.calls.join('\n'));
    assert.ok(engine.calls.indexOf('removeImage') > engine.calls.indexOf('build'), 'the temporary FROM tag goes after the build');
    const [b] = engine.builds;
    assert.deepEqual(b!.request.tags, [`dimuon-model:${runId}`]);
    const files = Object.fromEntries(b!.entries.map((e) => [e.name, e]));
    const dockerfile = files.Dockerfile!.data.toString().split('\n');
    assert.deepEqual(dockerfile.slice(0, 2), [`FROM dimuon-model:mlc-from-${runId}`, 'COPY mlc/ /opt/mlc/']);
    assert.ok(
      dockerfile.slice(2, -1).every((l) => l.startsWith('LABEL ')),
      'then one LABEL per label',
    );
    assert.equal(
      b!.request.labels,
      undefined,
      'the labels are in the Dockerfile, in a fixed order, not in the request (Podman reorders those)',
    );
    assert.equal(files['mlc/model/model.pt']!.data.toString(), 'weights-1');
    assert.ok(!files['mlc/model/metrics.jsonl'], 'only what outputs: names');
    const card = JSON.parse(files[`mlc/model/${CARD_JSON}`]!.data.toString()) as ReturnType<typeof modelCard>;
    assert.deepEqual(card.artifacts, [{ name: 'model.pt', sha256: sha('weights-1'), size: 9 }]);
    assert.ok(dockerfile.includes(`LABEL "${MODEL_LABELS.cardSha256}"="${sha(files[`mlc/model/${CARD_JSON}`]!.data)}"`));
    assert.ok(
      dockerfile.includes(
        `LABEL "${MODEL_LABELS.artifacts}"="[{\\"name\\":\\"model.pt\\",\\"sha256\\":\\"${sha('weights-1')}\\",\\"size\\":9}]"`,
      ),
      dockerfile.join('\n'),
    );
    assert.ok(files['mlc/model/MODEL_CARD.md']);
    for (const e of b!.entries) {
      assert.equal(e.mtime, 0, e.name);
      assert.equal(e.uid, 0, e.name);
      assert.equal(e.mode, e.type === 'directory' ? 0o755 : 0o644, e.name);
    }
  });

  it('saving the same run twice sends the same context and labels (the same image); another artifact, another image', async () => {
    const first = await save();
    const second = await save();
    assert.equal(second.imageId, first.imageId);
    fs.writeFileSync(path.join(runDir(), 'model.pt'), 'weights-2');
    assert.notEqual((await save()).imageId, first.imageId);
  });

  it('--files with a glob takes the matching files, not dot-files, and --name names the repository', async () => {
    fs.mkdirSync(path.join(runDir(), 'ckpt'));
    fs.writeFileSync(path.join(runDir(), 'ckpt', 'a.pt'), 'a');
    fs.writeFileSync(path.join(runDir(), 'ckpt', '.b.pt'), 'b');
    const saved = await save({ files: ['ckpt/*.pt', 'model.pt'], name: 'digits' });
    assert.equal(saved.tag, `digits:${runId}`);
    assert.deepEqual(
      saved.card.artifacts.map((a) => a.name),
      ['ckpt/a.pt', 'model.pt'],
    );
    assert.ok(engine.builds[0]!.entries.some((e) => e.name === 'mlc/model/ckpt/a.pt'));
  });

  it('on Podman it builds FROM the image id and tags nothing else', async () => {
    engine.version = async () => ({ version: '4.3.1', apiVersion: '1.41', os: 'linux', arch: 'amd64', components: [], isPodman: true });
    await save();
    assert.match(
      engine.builds[0]!.entries.find((e) => e.name === 'Dockerfile')!.data.toString(),
      new RegExp(`^FROM ${imageDetails().id}\n`),
    );
    assert.ok(!engine.calls.some((c) => c.startsWith('tagImage')));
  });

  const refusals: [string, () => void | Promise<void>, RegExp, { files?: string[]; run?: string }?][] = [
    [
      'an unknown run',
      () => undefined,
      /^No run 20990101-000000-0000 in .*: `mlc runs` lists the runs of this project \(pass its folder with --dir\)\.$/,
      { run: '20990101-000000-0000' },
    ],
    ['a run id with a slash', () => undefined, /^"\.\.\/x" is not a run id: `mlc runs` lists/, { run: '../x' }],
    [
      'a run that failed',
      () => writeRuns({ ...finishedRecord(runId), status: 'failed', exitCode: 3 }),
      /^Run .* failed \(exit 3\), and only a run that succeeded is saved as a model: save another run/,
    ],
    ['a run still running on record', () => writeRuns(startedRecord(runId)), /has not ended on record: wait for it/],
    [
      'a run that names no artifact',
      () => writeRuns(finishedRecord(runId, { config: { path: 'c.yaml', sha256: 'b'.repeat(64), content: 'lr: 1\n' } })),
      /names no artifact: pass the files with --files model\.pt .* or list them under outputs: in the experiment YAML/,
    ],
    [
      'a run whose image is gone',
      () => engine.images.clear(),
      /is no longer on this engine, and a model is built FROM it: load that image again/,
    ],
    [
      'a missing artifact',
      () => fs.rmSync(path.join(runDir(), 'model.pt')),
      /^model\.pt in \.mlcontainers\/runs\/.*\/ does not exist: check the name/,
    ],
    [
      'an artifact that is a link',
      () => {
        fs.rmSync(path.join(runDir(), 'model.pt'));
        fs.symlinkSync('/etc/passwd', path.join(runDir(), 'model.pt'));
      },
      /^model\.pt in .* is a link, and the host follows no link a run made: have the training code save the file itself/,
    ],
    [
      'a link a glob matches',
      () => fs.symlinkSync('/etc/passwd', path.join(runDir(), 'evil.pt')),
      /^evil\.pt in .* is a link/,
      { files: ['*.pt'] },
    ],
    [
      'an artifact that is a FIFO',
      () => {
        fs.rmSync(path.join(runDir(), 'model.pt'));
        execFileSync('mkfifo', [path.join(runDir(), 'model.pt')]);
      },
      /is a FIFO, not a regular file/,
    ],
    [
      'an artifact that is a hard link to a file elsewhere',
      () => {
        fs.rmSync(path.join(runDir(), 'model.pt'));
        fs.writeFileSync(path.join(dir, 'secret'), 's');
        fs.linkSync(path.join(dir, 'secret'), path.join(runDir(), 'model.pt'));
      },
      /hard link to another file.*save a file the run wrote itself \(--files\)\.$/,
    ],
    ['a glob that matches nothing', () => undefined, /^\*\.ckpt matches no file in .*: check the names/, { files: ['*.ckpt'] }],
    [
      'an artifact named like the card',
      () => fs.writeFileSync(path.join(runDir(), 'card.json'), '{}'),
      /has the name of the model card/,
      { files: ['card.json'] },
    ],
    [
      'a run folder that is a link',
      () => {
        fs.renameSync(runDir(), path.join(dir, 'elsewhere'));
        fs.symlinkSync(path.join(dir, 'elsewhere'), runDir());
      },
      /is a link to .*, not a folder under/,
    ],
  ];
  for (const [what, arrange, message, o] of refusals) {
    it(`refuses ${what} with one sentence, and builds nothing`, async () => {
      await arrange();
      await assert.rejects(save(o ?? {}), (e: Error) => {
        assert.match(e.message, message);
        assert.ok(!e.message.includes('\n'), e.message);
        return true;
      });
      assert.ok(!engine.calls.includes('build'), 'nothing was built');
    });
  }

  it("takes the record's outputs over its config's, checks them again, and says so when the record lists none", async () => {
    fs.writeFileSync(path.join(runDir(), 'other.bin'), 'weights-2');
    writeRuns({ ...finishedRecord(runId), outputs: ['other.bin'] });
    const saved = await save();
    assert.deepEqual(
      saved.card.artifacts.map((a) => a.name),
      ['other.bin'],
    );
    writeRuns({ ...finishedRecord(runId), outputs: ['../../secret'] });
    await assert.rejects(save(), /outputs entry "\.\.\/\.\.\/secret" is not a file in the run folder/);
    writeRuns({ ...finishedRecord(runId), outputs: null });
    await assert.rejects(save(), /names no artifact: pass the files with --files/);
  });

  it('a FROM tag made for a save that stops at its artifacts is removed', async () => {
    fs.rmSync(path.join(runDir(), 'model.pt'));
    await assert.rejects(save(), /does not exist/);
    // The tag is made while the artifacts are hashed, so this save had made it.
    assert.equal(engine.calls.filter((c) => c.startsWith('tagImage')).length, 1);
    assert.equal(engine.calls.filter((c) => c === 'removeImage').length, 1);
  });

  it("lists the context as a walk meets it (folders first, component by component) and serves each file's bytes", async () => {
    const file = path.join(dir, 'w.bin');
    fs.writeFileSync(file, 'weights');
    const handle = await fs.promises.open(file, 'r');
    try {
      const { sha256, size } = await hashHandle(handle);
      const context = modelContext(
        [
          { path: 'Dockerfile', content: 'FROM x\n' },
          { path: 'mlc/model.x', content: 'x' },
          { path: 'mlc/serve.py', content: Buffer.from('s') },
        ],
        [{ path: 'mlc/model/a.b/w.bin', handle, size, sha256 }],
      );
      assert.deepEqual(
        context.entries.map((e) => `${e.type[0]} ${e.path} ${e.mode.toString(8)} ${e.mtimeMs}`),
        [
          'f Dockerfile 644 0',
          'd mlc 755 0',
          'd mlc/model 755 0',
          'd mlc/model/a.b 755 0',
          'f mlc/model/a.b/w.bin 644 0',
          'f mlc/model.x 644 0',
          'f mlc/serve.py 644 0',
        ],
      );
      const read = async (p: string): Promise<string> => {
        const chunks: Buffer[] = [];
        for await (const c of context.open(p)) chunks.push(c);
        return Buffer.concat(chunks).toString();
      };
      assert.equal(await read('mlc/model/a.b/w.bin'), 'weights');
      assert.equal(await read('Dockerfile'), 'FROM x\n');
      fs.writeFileSync(file, 'WEIGHTS');
      await assert.rejects(read('mlc/model/a.b/w.bin'), ArtifactChangedError);
    } finally {
      await handle.close();
    }
  });

  it('an artifact that changes between hashing and packing fails the stream, and the save says so', async () => {
    const file = path.join(dir, 'm.bin');
    fs.writeFileSync(file, 'aaaa');
    const handle = await fs.promises.open(file, 'r');
    try {
      const { sha256, size } = await hashHandle(handle);
      fs.writeFileSync(file, 'bbbb');
      let heard: Error | undefined;
      const tar = packModelContext(modelContext([], [{ path: 'model/m.bin', handle, size, sha256 }]), (e) => (heard = e));
      await assert.rejects(untar(tar));
      assert.ok(heard instanceof ArtifactChangedError, String(heard));
      assert.match(heard.message, /^model\/m\.bin changed while the model was being saved: save again/);
    } finally {
      await handle.close();
    }
  });
});

describe('mlc models and mlc model tag against a fake engine', () => {
  const labelsOf = (run: string, acc: number): Record<string, string> =>
    modelLabels(
      modelCard(
        finishedRecord(run, {
          metrics: {
            metrics: { val_acc: { source: 'metrics.jsonl', last: acc, lastStep: 1, min: acc, max: acc, steps: 1, nans: 0 } },
            skipped: 0,
          } as unknown as RunRecord['metrics'],
        }),
        {},
        [{ name: 'model.pt', sha256: 'a'.repeat(64), size: 1 }],
      ),
      'a'.repeat(64),
    );
  const summary = (id: string, tags: string[], labels: Record<string, string>, created: number): ImageSummary => ({
    id,
    repoTags: tags,
    labels,
    created,
    size: 10,
  });

  it('lists model images newest first, with run, headline metric and aliases; an image without the role label is no model', async () => {
    const engine = new FakeEngine();
    engine.imageList = [
      summary('sha256:1', ['digits-model:r1'], labelsOf('r1', 0.9), 100),
      summary('sha256:2', ['digits-model:r2', 'digits-model:champion'], labelsOf('r2', 0.95), 200),
      summary('sha256:3', ['other:latest'], { [MODEL_LABELS.run]: 'r3' }, 300),
    ];
    const listed = await listModels(engine);
    assert.deepEqual(
      listed.map((m) => [m.id, m.name, m.run, m.aliases, m.headline]),
      [
        ['sha256:2', 'digits-model', 'r2', ['champion'], { name: 'val_acc', value: 0.95 }],
        ['sha256:1', 'digits-model', 'r1', [], { name: 'val_acc', value: 0.9 }],
      ],
    );
  });

  it("splitTags reads Podman's localhost/ names as docker shows them", () => {
    assert.deepEqual(splitTags(['localhost:5000/team/m:r1', 'localhost:5000/team/m:best', 'elsewhere:x'], 'r1'), {
      name: 'localhost:5000/team/m',
      aliases: ['best', 'elsewhere:x'],
    });
  });

  it('tag gives the model <name>:<alias> under the repository of its run tag, says which model it moved from, and refuses a non-model', async () => {
    const engine = new FakeEngine();
    engine.images.set('digits-model:r2', imageDetails({ id: 'sha256:2', repoTags: ['digits-model:r2'], labels: labelsOf('r2', 0.95) }));
    engine.images.set(
      'digits-model:champion',
      imageDetails({ id: 'sha256:1', repoTags: ['digits-model:r1', 'digits-model:champion'], labels: labelsOf('r1', 0.9) }),
    );
    const tagged = await tagModel(engine, 'sha256:2', 'champion');
    assert.equal(tagged.tag, 'digits-model:champion');
    assert.deepEqual(tagged.movedFrom, { id: 'sha256:1', run: 'r1' });
    assert.ok(engine.calls.includes('tagImage sha256:2 digits-model:champion'));
    engine.images.set('plain:latest', imageDetails({ id: 'sha256:9' }));
    await assert.rejects(
      tagModel(engine, 'plain:latest', 'champion'),
      /plain:latest is not a model image: save one with `mlc model save RUN`/,
    );
    await assert.rejects(tagModel(engine, 'digits-model:r2', '-bad'), /is not an alias/);
    await assert.rejects(tagModel(engine, 'nope:1', 'champion'), /No image nope:1 on this engine/);
  });
});

describe('mlc model on the command line (in process)', () => {
  it('a --files entry that leaves the run folder, a --name with a tag and an unknown verb are usage errors (exit 2), said before the engine is asked', async () => {
    const env = { DOCKER_HOST: 'unix:///nonexistent.sock' };
    const files = await mlcInProcess(['model', 'save', 'r1', '--files', 'model.pt,../../x'], env);
    assert.equal(files.code, 2);
    assert.equal(
      files.err,
      'mlc model: --files entry "../../x" is not a file in the run folder (it climbs out of the run folder with ..): write a relative name such as model.pt.',
    );
    const name = await mlcInProcess(['model', 'save', 'r1', '--name', 'digits:v1'], env);
    assert.equal(name.code, 2);
    assert.match(name.err, /--name takes a repository without a tag/);
    const verb = await mlcInProcess(['model', 'frob'], env);
    assert.equal(verb.code, 2);
    assert.match(verb.err, /mlc model takes save or tag, not "frob"/);
    assert.match((await mlcInProcess(['help', 'model'])).out, /^mlc model save RUN/);
  });
});
