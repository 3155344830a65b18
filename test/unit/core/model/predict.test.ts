// `mlc predict`'s sharding, against a fake of our Engine whose "containers" write a shard's predictions the way
// templates/model/predict_batch.py does (or hostile ones): counting, splitting, merging in order, resuming.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MODEL_LABELS, MODEL_ROLE } from '../../../../src/core/model/card';
import type { PredictRecord } from '../../../../src/core/model/predict';
import {
  BATCH_PATH,
  PredictError,
  checkShard,
  checkedFile,
  mergeShards,
  countRows,
  predictBatch,
  shardFile,
  shardsToRun,
  jsonlCounter,
  splitShards,
} from '../../../../src/core/model/predict';
import { SERVER_PATH } from '../../../../src/core/model/layout';
import { ROLE_LABEL } from '../../../../src/core/labels';
import { templatesDir } from '../../../../src/core/scaffold/templateFiles';
import { imageDetails } from '../../../helpers/images';
import { silentLogger } from '../../../helpers/logger';
import { FakeEngine } from '../../fakes/engine';

const ROOT = path.resolve(__dirname, '../../../..');
const RUN = '20261205-001122-ab12';
const REF = `digits-model:${RUN}`;
const MODEL = imageDetails({
  id: 'sha256:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e',
  repoTags: [REF],
  labels: { [ROLE_LABEL]: MODEL_ROLE, [MODEL_LABELS.run]: RUN },
  cmd: ['python3', SERVER_PATH],
});

type Shard = { index: number; start: number; end: number; out: string };
/** What a shard's container does: writes into its folder (out) and returns the exit code. */
type Behaviour = (s: Shard) => number;

const arg = (cmd: string[], flag: string): number => Number(cmd[cmd.indexOf(flag) + 1]);
/** The lines predict_batch.py writes: row, key, and an output that depends on the row. */
const goodLines = (s: Shard): string =>
  Array.from(
    { length: s.end - s.start },
    (_, i) => `${JSON.stringify({ row: s.start + i, key: s.start + i, outputs: { twice: 2 * (s.start + i) } })}\n`,
  ).join('');
const good: Behaviour = (s) => {
  fs.writeFileSync(path.join(s.out, `predictions.${s.index}.jsonl`), goodLines(s));
  return 0;
};

class ShardEngine extends FakeEngine {
  behaviour: Behaviour = good;
  readonly ran: number[] = [];
  constructor() {
    super();
    this.images.set(REF, MODEL);
    this.runScript = (cmd) => ({ output: `shard ${arg(cmd, '--shard')} says: boom\nValueError: bad pixels\n`, exitCode: 1 });
  }
  override async waitContainer(id: string): Promise<number> {
    const request = this.requests.get(id)!;
    const cmd = request.Cmd ?? [];
    const out = (request.HostConfig?.Binds ?? []).find((b) => b.endsWith(':/mlc/out'))!.slice(0, -':/mlc/out'.length);
    const shard = { index: arg(cmd, '--shard'), start: arg(cmd, '--start'), end: arg(cmd, '--end'), out };
    this.ran.push(shard.index);
    const code = this.behaviour(shard);
    Object.assign(this.containers.get(id)!, { running: false, status: 'exited', exitCode: code });
    return code;
  }
}

describe('mlc predict: shards of a data set', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-predict-test-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string): string => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  const rowsFile = (n: number): string => write('rows.jsonl', Array.from({ length: n }, (_, i) => `{"x": ${i}}\n`).join(''));
  const job = (engine: ShardEngine, input: string, out: string, more: Partial<Parameters<typeof predictBatch>[0]> = {}) =>
    predictBatch({
      engine,
      model: REF,
      input,
      outDir: out,
      workspace: dir,
      templatesDir: templatesDir(),
      log: silentLogger('predict'),
      // Inputs of a few rows: a predict() call a row, so that they split into as many shards as asked.
      batch: 1,
      ...more,
    });
  const record = (out: string): PredictRecord => JSON.parse(fs.readFileSync(path.join(out, 'predict.json'), 'utf8')) as PredictRecord;

  it('counts the same rows however the input is cut into chunks (a line, a blank line or a CRLF across two chunks)', () => {
    const text = Buffer.from('{"x":1}\r\n\n \t\r\n  {"x":2}\n\n{"x":3}\r\n \n{"x":4}');
    const reference = text
      .toString()
      .split('\n')
      .filter((l) => /[^ \t\r]/.test(l)).length;
    assert.equal(reference, 4);
    for (let size = 1; size <= text.length; size++) {
      const counter = jsonlCounter();
      for (let i = 0; i < text.length; i += size) counter.push(text.subarray(i, i + size));
      assert.equal(counter.end(), reference, `chunks of ${size} bytes`);
    }
  });

  it('counts JSONL rows as non-blank lines, with or without a last newline', async () => {
    assert.deepEqual(await countRows(write('a.jsonl', '{"x":1}\n\n  \r\n{"x":2}\n{"x":3}')), { kind: 'jsonl', count: 3 });
    assert.equal((await countRows(write('b.ndjson', ''))).count, 0);
  });

  it('counts CSV records after the header, as csv.reader does: quoted line ends, CRLF, blank lines', async () => {
    const text = 'x,note\r\n1,"two\nlines"\r\n\r\n2,"a ""quoted"" word"\n3,\n';
    assert.deepEqual(await countRows(write('a.csv', text)), { kind: 'csv', count: 3 });
    assert.equal((await countRows(write('h.csv', 'x,y\n'))).count, 0);
  });

  it('counts a folder as its regular top-level files in byte order: no dot files, folders or links', async () => {
    const folder = path.join(dir, 'files');
    fs.mkdirSync(path.join(folder, 'sub'), { recursive: true });
    for (const name of ['b.png', 'a.png', 'Z.png', '.DS_Store']) fs.writeFileSync(path.join(folder, name), 'x');
    fs.symlinkSync('/etc/passwd', path.join(folder, 'link.png'));
    assert.deepEqual(await countRows(folder), { kind: 'files', count: 3, names: ['Z.png', 'a.png', 'b.png'] });
  });

  it('refuses an input that is neither a .jsonl/.csv file nor a folder, saying how to name it', async () => {
    await assert.rejects(countRows(write('rows.txt', 'x')), /neither a folder nor a \.jsonl or \.csv file/);
  });

  it('splits rows into contiguous shards that cover each row once, none empty, cut only between batches', () => {
    assert.deepEqual(
      splitShards(10, 4, 1).map((s) => [s.start, s.end]),
      [
        [0, 3],
        [3, 6],
        [6, 8],
        [8, 10],
      ],
    );
    assert.deepEqual(
      splitShards(1000, 4, 256).map((s) => [s.start, s.end]),
      [
        [0, 256],
        [256, 512],
        [512, 768],
        [768, 1000],
      ],
    );
    assert.deepEqual(
      splitShards(100_000, 2).map((s) => [s.start, s.end]),
      [
        [0, 50_176],
        [50_176, 100_000],
      ],
      'the default batch (256): 391 batches, 196 and 195',
    );
    assert.equal(splitShards(3, 8, 1).length, 3);
    assert.equal(splitShards(300, 8, 256).length, 2, 'no more shards than batches');
    for (const [count, n, batch] of [
      [1000, 4, 256],
      [7, 7, 1],
      [1, 1, 256],
      [999, 16, 10],
      [100_000, 3, 256],
    ] as const) {
      const shards = splitShards(count, n, batch);
      assert.equal(shards[0]!.start, 0);
      assert.equal(shards.at(-1)!.end, count);
      for (let i = 1; i < shards.length; i++) {
        assert.equal(shards[i]!.start, shards[i - 1]!.end);
        assert.equal(shards[i]!.start % batch, 0, `shard ${i} of ${count}/${n} starts on a batch`);
        assert.ok(shards[i]!.end > shards[i]!.start);
      }
    }
  });

  it("mounts --predict's private copy from the job's folder (every node of a cluster sees it), and removes it after", async () => {
    const engine = new ShardEngine();
    const out = path.join(dir, 'out');
    write('mine.py', 'def load(model_dir):\n    return 2\n\ndef predict(model, inputs):\n    return [model]\n');
    await job(engine, rowsFile(2), out, { predict: 'mine.py' });
    const binds = [...engine.requests.values()].flatMap((r) => r.HostConfig?.Binds ?? []);
    const mounted = binds.find((b) => b.endsWith(':/opt/mlc/predict.py:ro'));
    assert.ok(mounted?.startsWith(`${path.join(out, '.predict-')}`), binds.join(' '));
    assert.deepEqual(
      fs.readdirSync(out).filter((n) => n.startsWith('.predict-')),
      [],
      'the copy goes once the shards ran',
    );
  });

  it('runs one container per shard without network, input read-only, and merges them in input order', async () => {
    const engine = new ShardEngine();
    const input = rowsFile(10);
    const out = path.join(dir, 'out');
    const r = await job(engine, input, out, { shards: 4 });
    const lines = fs.readFileSync(path.join(out, 'predictions.jsonl'), 'utf8').trim().split('\n');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as { row: number; key: number; outputs: { twice: number } }),
      Array.from({ length: 10 }, (_, i) => ({ row: i, key: i, outputs: { twice: 2 * i } })),
    );
    assert.equal(r.status, 'succeeded');
    assert.equal(r.output?.rows, 10);
    assert.deepEqual(
      record(out).shards.map((s) => [s.index, s.start, s.end, s.status]),
      [
        [0, 0, 3, 'succeeded'],
        [1, 3, 6, 'succeeded'],
        [2, 6, 8, 'succeeded'],
        [3, 8, 10, 'succeeded'],
      ],
    );
    assert.equal(record(out).model.run, RUN);
    assert.equal(record(out).model.imageId, MODEL.id);
    assert.match(record(out).input.fingerprint.manifest, /^[0-9a-f]{64}$/);
    assert.equal(engine.requests.size, 4);
    for (const request of engine.requests.values()) {
      assert.equal(request.HostConfig?.NetworkMode, 'none');
      // The fake engine has 2 CPUs, shared by 4 shards: one thread each, never more threads than CPUs.
      assert.ok(request.Env?.includes('OMP_NUM_THREADS=1') && request.Env.includes('MKL_NUM_THREADS=1'), request.Env?.join(' '));
      const binds = request.HostConfig?.Binds ?? [];
      assert.ok(binds.includes(`${input}:/mlc/input/input.jsonl:ro`), binds.join(' '));
      assert.ok(binds.some((b) => b.endsWith(`:${BATCH_PATH}:ro`)));
    }
    // One shard gives the same bytes.
    await job(new ShardEngine(), input, path.join(dir, 'one'), { shards: 1 });
    assert.equal(fs.readFileSync(path.join(dir, 'one', 'predictions.jsonl'), 'utf8'), lines.join('\n') + '\n');
  });

  it('names a failed shard with its last lines, keeps the others, and --resume reruns only it', async () => {
    const engine = new ShardEngine();
    const input = rowsFile(12);
    const out = path.join(dir, 'out');
    engine.behaviour = (s) => (s.index === 2 ? 1 : good(s));
    await assert.rejects(
      job(engine, input, out, { shards: 4 }),
      (e: Error) =>
        e instanceof PredictError &&
        /^Shard 2 of 4 failed; shard 2 \(rows 6-8\) exited with code 1; its last lines:\n.*ValueError: bad pixels/s.test(e.message) &&
        /--resume/.test(e.message),
    );
    assert.deepEqual(
      record(out).shards.map((s) => s.status),
      ['succeeded', 'succeeded', 'failed', 'succeeded'],
    );
    assert.ok(!fs.existsSync(path.join(out, 'predictions.jsonl')));
    const kept = [0, 1, 3].map((i) => fs.statSync(shardFile(out, i)).mtimeMs);

    engine.behaviour = good;
    engine.ran.length = 0;
    await assert.rejects(job(engine, input, out, { shards: 4 }), /already holds a prediction job: pass --resume/);
    const r = await job(engine, input, out, { resume: true });
    assert.deepEqual(engine.ran, [2]);
    assert.equal(r.status, 'succeeded');
    assert.deepEqual(
      [0, 1, 3].map((i) => fs.statSync(shardFile(out, i)).mtimeMs),
      kept,
    );
    await job(new ShardEngine(), input, path.join(dir, 'one'));
    assert.equal(
      fs.readFileSync(path.join(out, 'predictions.jsonl'), 'utf8'),
      fs.readFileSync(path.join(dir, 'one', 'predictions.jsonl'), 'utf8'),
    );
  });

  it('picks for a rerun the shards not on record as done, or the one --shard names', () => {
    const shards = ['succeeded', 'failed', 'pending', 'succeeded'].map((status, index) => ({
      index,
      start: index,
      end: index + 1,
      status,
    }));
    const r = { shards } as Pick<PredictRecord, 'shards'>;
    assert.deepEqual(
      shardsToRun(r).map((s) => s.index),
      [1, 2],
    );
    assert.deepEqual(
      shardsToRun(r, 3).map((s) => s.index),
      [3],
    );
    assert.throws(() => shardsToRun(r, 4), /shards 0-3, not 4/);
  });

  it('refuses to resume a job whose input changed since it was counted', async () => {
    const engine = new ShardEngine();
    const input = rowsFile(4);
    const out = path.join(dir, 'out');
    engine.behaviour = (s) => (s.index === 1 ? 1 : good(s));
    await assert.rejects(job(engine, input, out, { shards: 2 }), PredictError);
    fs.appendFileSync(input, '{"x": 4}\n');
    await assert.rejects(job(engine, input, out, { resume: true }), /changed since the job .* counted it/);
  });

  it('refuses a remote engine, which cannot see the input and the folders mounted from here', async () => {
    const engine = new ShardEngine();
    Object.assign(engine, { endpoint: { host: 'tcp://gpu-box:2376', protocol: 'https', hostname: 'gpu-box', port: 2376, source: 'env' } });
    await assert.rejects(job(engine, rowsFile(2), path.join(dir, 'out')), /mounted from this machine, and tcp:\/\/gpu-box:2376 is another/);
    assert.equal(engine.requests.size, 0);
  });

  describe('a shard output is hostile input', () => {
    const shard = { index: 0, start: 5, end: 8 };
    const cases: [string, (file: string) => void, RegExp][] = [
      ['a link to a host file', (f) => fs.symlinkSync('/etc/passwd', f), /refused: .*link/],
      ['a FIFO', (f) => spawnSync('mkfifo', [f]), /refused: .*not a file|refused: .*FIFO/],
      ['a hard link', (f) => (fs.writeFileSync(`${f}.x`, goodLines({ ...shard, out: '' })), fs.linkSync(`${f}.x`, f)), /hard link/],
      ['a line that is not JSON', (f) => fs.writeFileSync(f, 'rm -rf /\n'), /not JSON where row 5 belongs/],
      ['a line for another row', (f) => fs.writeFileSync(f, goodLines({ ...shard, start: 6, end: 9, out: '' })), /not row 5/],
      ['a wrong key', (f) => fs.writeFileSync(f, '{"row":5,"key":"../x","outputs":{}}\n'), /not row 5 \(key 5\)/],
      ['outputs that are not an object', (f) => fs.writeFileSync(f, '{"row":5,"key":5,"outputs":[1]}\n'), /without an outputs object/],
      ['too few rows', (f) => fs.writeFileSync(f, goodLines({ ...shard, end: 7, out: '' })), /wrote 2 of its 3 rows/],
      ['too many rows', (f) => fs.writeFileSync(f, goodLines({ ...shard, end: 9, out: '' })), /more lines than its 3 rows/],
      ['a cut last line', (f) => fs.writeFileSync(f, goodLines({ ...shard, out: '' }).slice(0, -3)), /middle of a line/],
      ['nothing', () => undefined, /wrote no predictions\.0\.jsonl/],
    ];
    for (const [what, make, error] of cases) {
      it(`refuses ${what}`, async () => {
        fs.mkdirSync(path.dirname(shardFile(dir, 0)), { recursive: true });
        make(shardFile(dir, 0));
        const r = await checkShard(dir, shard);
        assert.ok('error' in r && error.test(r.error), JSON.stringify(r));
      });
    }

    it("merges each shard's checked copy, checks a shard again whose copy no longer hashes as checked, and removes the copies", async () => {
      const shards = [
        { index: 0, start: 0, end: 3 },
        { index: 1, start: 3, end: 5 },
      ];
      const checked: { index: number; start: number; end: number; sha256: string }[] = [];
      for (const sh of shards) {
        fs.mkdirSync(path.dirname(shardFile(dir, sh.index)), { recursive: true });
        fs.writeFileSync(
          shardFile(dir, sh.index),
          goodLines({ ...sh, out: '' })
            .replace(/\n/g, '\r\n')
            .replace(/"twice"/g, ' "twice"'),
        );
        const r = await checkShard(dir, sh);
        assert.ok('sha256' in r);
        checked.push({ ...sh, sha256: r.sha256 });
      }
      // The container's own file changes after the check: the merge takes what was checked, not this.
      fs.writeFileSync(shardFile(dir, 0), goodLines({ index: 0, start: 0, end: 3, out: '' }).replace(/"twice":0/, '"twice":99'));
      // A checked copy that changed is not copied: shard 1 is read and checked again from its own file.
      fs.appendFileSync(checkedFile(dir, 1), '{"row":5,"key":5,"outputs":{}}\n');
      const merged = await mergeShards(dir, checked);
      assert.equal(fs.readFileSync(path.join(dir, 'predictions.jsonl'), 'utf8'), goodLines({ index: 0, start: 0, end: 5, out: '' }));
      assert.equal(merged.rows, 5);
      assert.ok(!fs.existsSync(path.dirname(checkedFile(dir, 0))), 'the checked copies go once merged');
    });

    it('records the shard failed and merges nothing when a container wrote a link', async () => {
      const engine = new ShardEngine();
      const out = path.join(dir, 'out');
      engine.behaviour = (s) => {
        if (s.index === 1) fs.symlinkSync('/etc/passwd', path.join(s.out, 'predictions.1.jsonl'));
        else good(s);
        return 0;
      };
      await assert.rejects(job(engine, rowsFile(6), out, { shards: 2 }), /Shard 1 of 2 failed; .*link/s);
      assert.equal(record(out).shards[1]!.status, 'failed');
      assert.ok(!fs.existsSync(path.join(out, 'predictions.jsonl')));
    });

    it("checks a folder row's key against the file it belongs to", async () => {
      const folder = path.join(dir, 'files');
      fs.mkdirSync(folder);
      for (const name of ['a', 'b']) fs.writeFileSync(path.join(folder, name), name);
      const engine = new ShardEngine();
      engine.behaviour = (s) => {
        fs.writeFileSync(
          path.join(s.out, 'predictions.0.jsonl'),
          '{"row":0,"key":"a","outputs":{}}\n{"row":1,"key":"/etc/shadow","outputs":{}}\n',
        );
        return 0;
      };
      await assert.rejects(job(engine, folder, path.join(dir, 'out')), /not row 1 \(key "b"\)/);
    });
  });
});

describe('the batch runner, templates/model/predict_batch.py (python3 -m unittest)', function () {
  this.timeout(120_000);
  it('passes test/python/test_predict_batch.py: shard rows only, batches, CSV cells, folders, raise → exit 1', function () {
    if (spawnSync('python3', ['--version']).status !== 0) this.skip();
    const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', 'test/python', '-p', 'test_predict_batch.py', '-v'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 110_000,
    });
    const output = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, output);
    assert.ok(Number(/Ran (\d+) tests?/.exec(output)?.[1]) >= 6, output);
  });
});
