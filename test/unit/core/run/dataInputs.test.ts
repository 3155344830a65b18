import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatComparison } from '../../../../src/cli/run';
import { compareRuns, differingData } from '../../../../src/core/run/compare';
import { InputsError, configInputs, dataInputs, isDataInputList, parseInputs } from '../../../../src/core/run/inputs';
import { fingerprintData } from '../../../../src/core/provenance/data';
import { appendRun, readRuns } from '../../../../src/core/run/records';
import { expandConfig } from '../../../../src/core/run/sweep';
import { startedRecord } from '../../../helpers/runRecords';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-data-'));

describe('the data a run saw', () => {
  it('fingerprints a folder by its paths, sizes and times: the same tree gives the same manifest, a changed file another', async () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'train'));
    fs.writeFileSync(path.join(dir, 'train', 'a.csv'), 'x,y\n1,2\n');
    fs.writeFileSync(path.join(dir, 'b.bin'), Buffer.alloc(1000));
    const first = await fingerprintData(dir);
    assert.deepEqual([first?.files, first?.bytes], [2, 1008]);
    assert.equal((await fingerprintData(dir))?.manifest, first?.manifest, 'stable');
    fs.appendFileSync(path.join(dir, 'train', 'a.csv'), '3,4\n');
    assert.notEqual((await fingerprintData(dir))?.manifest, first?.manifest, 'a file that grew changes it');
    assert.equal(await fingerprintData(path.join(dir, 'absent')), undefined);
  });

  it('records a link by its target and never follows it out of the data', async () => {
    const dir = tmp();
    const outside = tmp();
    fs.writeFileSync(path.join(outside, 'huge.bin'), Buffer.alloc(5000));
    fs.symlinkSync(outside, path.join(dir, 'elsewhere'));
    const f = await fingerprintData(dir);
    assert.deepEqual([f?.files, f?.bytes], [0, 0], 'the linked folder was not walked');
  });

  it('takes the exact content id a project already keeps: DVC, git-LFS, git-annex', async () => {
    const dir = tmp();
    fs.mkdirSync(path.join(dir, 'images'));
    fs.writeFileSync(path.join(dir, 'images.dvc'), 'outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  size: 10\n  path: images\n');
    assert.equal((await fingerprintData(path.join(dir, 'images')))?.contentId, 'dvc-md5:0123456789abcdef0123456789abcdef.dir');
    const oid = 'a'.repeat(64);
    fs.writeFileSync(path.join(dir, 'big.parquet'), `version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize 12345\n`);
    assert.equal((await fingerprintData(path.join(dir, 'big.parquet')))?.contentId, `git-lfs-sha256:${oid}`);
    fs.symlinkSync(
      `.git/annex/objects/Xx/Yy/SHA256E-s42--${'b'.repeat(64)}.csv/SHA256E-s42--${'b'.repeat(64)}.csv`,
      path.join(dir, 'annexed.csv'),
    );
    assert.equal((await fingerprintData(path.join(dir, 'annexed.csv')))?.contentId, `git-annex:SHA256E-s42--${'b'.repeat(64)}.csv`);
  });

  it('inputs: lists project paths; it is never a sweep axis, and a path out of the project is one sentence', () => {
    const expanded = expandConfig('lr: [0.1, 0.01]\ninputs: [data/train.csv, data/val.csv]\n', 'exp.yaml');
    assert.equal(expanded.points.length, 2, 'only lr is an axis');
    assert.deepEqual(configInputs('inputs: data/train.csv\n', 'exp.yaml'), ['data/train.csv']);
    assert.deepEqual(configInputs('data: {val_fraction: 0.2}\n', 'exp.yaml'), [], 'a data: section is a hyper-parameter');
    for (const bad of ['../secrets', '/etc/passwd', 'a\\b', ''])
      assert.throws(
        () => parseInputs([bad], 'exp.yaml'),
        (e: unknown) => e instanceof InputsError && /not a path in the project/.test(e.message),
      );
    assert.throws(() => expandConfig('inputs: [../x]\n', 'exp.yaml'), InputsError);
  });

  it('names the bind mounts and inputs: of a run, leaves the project folder out, and survives the record read back', async () => {
    const ws = tmp();
    const data = tmp();
    fs.writeFileSync(path.join(data, 'x.npy'), 'abc');
    fs.mkdirSync(path.join(ws, 'data'));
    fs.writeFileSync(path.join(ws, 'data', 'train.csv'), '1\n');
    const inputs = await dataInputs(
      ws,
      {
        mounts: [
          { Type: 'bind', Source: data, Target: '/data' },
          { Type: 'bind', Source: ws, Target: '/w' },
          { Type: 'tmpfs', Source: '', Target: '/tmp' },
        ],
        binds: [],
      },
      ['data/train.csv'],
      '/workspace',
    );
    assert.deepEqual(
      inputs.map((i) => [i.from, i.source, i.target, i.fingerprint?.files]),
      [
        ['mount', data, '/data', 1],
        ['inputs', 'data/train.csv', '/workspace/data/train.csv', 1],
      ],
    );
    assert.ok(isDataInputList(inputs));
    await appendRun(ws, startedRecord('R-1', { data: inputs }));
    assert.deepEqual((await readRuns(ws)).runs[0]?.data, inputs);
    // A record whose data is not what we write is skipped, as any bad line.
    await appendRun(ws, startedRecord('R-2', { data: [{ from: 'mount', source: 1 }] as never }));
    assert.deepEqual(
      (await readRuns(ws)).runs.map((r) => r.id),
      ['R-1'],
    );
  });

  it('mlc runs --compare says when two runs saw different data, and where', async () => {
    const d = (manifest: string) => [
      { from: 'mount' as const, source: '/data', target: '/data', fingerprint: { manifest: manifest.repeat(64), files: 1, bytes: 1 } },
    ];
    const runs = [startedRecord('R-1', { data: d('a') }), startedRecord('R-2', { data: d('b') }), startedRecord('R-3', { data: d('a') })];
    assert.deepEqual(differingData(runs), [
      { target: '/data', runs: { 'R-1': 'manifest:aaaaaaaaaaaa', 'R-2': 'manifest:bbbbbbbbbbbb', 'R-3': 'manifest:aaaaaaaaaaaa' } },
    ]);
    assert.deepEqual(differingData([runs[0]!, runs[2]!]), [], 'the same data');
    const lines = formatComparison(await compareRuns(runs.slice(0, 2)));
    assert.ok(lines.includes('data that differs at /data: R-1 manifest:aaaaaaaaaaaa, R-2 manifest:bbbbbbbbbbbb'), lines.join('\n'));
  });
});

describe('the data walk is bounded', () => {
  it('stops at its entry budget and says the manifest covers what was seen', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-data-budget-'));
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, `f${i}`), 'x');
    const whole = await fingerprintData(dir);
    const cut = await fingerprintData(dir, { entries: 5 });
    assert.equal(whole?.truncated, undefined);
    assert.deepEqual([cut?.truncated, cut?.files], [true, 5]);
    assert.notEqual(cut?.manifest, whole?.manifest);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('comparing runs whose data walk was cut short', () => {
  it('claims no difference from two truncated manifests without a content id, but does from content ids', () => {
    const d = (manifest: string, extra: object = {}) => [
      {
        from: 'mount' as const,
        source: '/data',
        target: '/data',
        fingerprint: { manifest: manifest.repeat(64), files: 1, bytes: 1, truncated: true as const, ...extra },
      },
    ];
    assert.deepEqual(differingData([startedRecord('R-1', { data: d('a') }), startedRecord('R-2', { data: d('b') })]), []);
    const ids = differingData([
      startedRecord('R-1', { data: d('a', { contentId: `dvc-md5:${'1'.repeat(32)}` }) }),
      startedRecord('R-2', { data: d('b', { contentId: `dvc-md5:${'2'.repeat(32)}` }) }),
    ]);
    assert.equal(ids.length, 1);
  });
});
