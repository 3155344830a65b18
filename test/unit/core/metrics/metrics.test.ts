import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type { RunMetrics } from '../../../../src/core/metrics/metrics';
import { printable } from '../../../../src/core/generatedText';
import {
  MAX_METRIC_FILE_BYTES,
  MAX_METRIC_NAMES,
  leftOutSentence,
  metricsFromJson,
  metricsToJson,
  nameMap,
  readMetricSeries,
  readRunMetrics,
  readRunSeries,
} from '../../../../src/core/metrics/metrics';
import { crc32c, maskedCrc32c } from '../../../../src/core/metrics/tensorboard';
import { eventRecord, fileVersionRecord, frame } from '../../../helpers/tfevents';

let runDir: string;
beforeEach(() => {
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-metrics-'));
});
afterEach(() => fs.rmSync(runDir, { recursive: true, force: true }));

function write(rel: string, content: string | Buffer): void {
  const file = path.join(runDir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

function summary(m: RunMetrics, name: string): Record<string, unknown> {
  const s = m.metrics[name];
  assert.ok(s, `no metric ${name} in ${Object.keys(m.metrics).join(', ')}`);
  return { ...s };
}

describe('run metrics: metrics.jsonl', () => {
  it('summarizes each number per line: last, min, max, step count and the last step', async () => {
    write(
      'metrics.jsonl',
      ['{"step": 10, "loss": 0.9, "val_acc": 0.5}', '{"step": 20, "loss": 0.3}', '{"step": 30, "loss": 0.4, "val_acc": 0.8}', ''].join(
        '\n',
      ),
    );
    const m = await readRunMetrics(runDir);
    assert.deepEqual(Object.keys(m.metrics), ['loss', 'val_acc']);
    assert.deepEqual(summary(m, 'loss'), { source: 'metrics.jsonl', last: 0.4, lastStep: 30, min: 0.3, max: 0.9, steps: 3, nans: 0 });
    assert.deepEqual(summary(m, 'val_acc'), { source: 'metrics.jsonl', last: 0.8, lastStep: 30, min: 0.5, max: 0.8, steps: 2, nans: 0 });
    assert.equal(m.skipped, 0);
  });

  it('takes the line index as the step when a line has none, and names nested numbers a/b', async () => {
    write('metrics.jsonl', '{"loss": 1}\n\n{"train": {"loss": 2, "note": "x"}, "lr": 0.1}\r\n{"loss": 3}');
    const m = await readRunMetrics(runDir);
    assert.deepEqual(Object.keys(m.metrics), ['loss', 'train/loss', 'lr']);
    assert.equal(m.metrics.loss!.lastStep, 3, 'the 0-based index of the line, blank lines included');
    assert.equal(m.metrics['train/loss']!.lastStep, 2);
    assert.equal(m.metrics.loss!.last, 3, 'a last line without a newline is read');
  });

  it('skips and counts malformed lines and reads the rest', async () => {
    write(
      'metrics.jsonl',
      ['{"step": 1, "loss": 1}', '{"step": 2, "loss":', '[1, 2]', 'loss=3', '{"step": "three", "loss": 3}', '{"step": 4, "loss": 4}'].join(
        '\n',
      ),
    );
    const m = await readRunMetrics(runDir);
    assert.equal(m.skipped, 4);
    assert.deepEqual(summary(m, 'loss'), { source: 'metrics.jsonl', last: 4, lastStep: 4, min: 1, max: 4, steps: 2, nans: 0 });
  });

  it('keeps NaN and Infinity as json.dumps writes them: min and max pass over NaN, last says it', async () => {
    write(
      'metrics.jsonl',
      [
        '{"step": 1, "loss": 0.5, "grad": -Infinity}',
        '{"step": 2, "loss": NaN, "grad": Infinity, "tag": "NaN-free"}',
        '{"step": 3, "loss": "NaN"}',
      ].join('\n'),
    );
    const m = await readRunMetrics(runDir);
    assert.equal(m.skipped, 0);
    assert.deepEqual(summary(m, 'loss'), { source: 'metrics.jsonl', last: NaN, lastStep: 3, min: 0.5, max: 0.5, steps: 3, nans: 2 });
    assert.deepEqual(summary(m, 'grad'), {
      source: 'metrics.jsonl',
      last: Infinity,
      lastStep: 2,
      min: -Infinity,
      max: Infinity,
      steps: 2,
      nans: 0,
    });
    assert.equal(m.metrics.tag, undefined, 'a string that only mentions NaN is not a metric');
  });

  it('skips a line over 1 MiB without holding it, counted once, and reads the next', async () => {
    write('metrics.jsonl', `{"step": 1, "loss": 1, "blob": "${'x'.repeat(3 << 20)}"}\n{"step": 2, "loss": 2}\n`);
    const m = await readRunMetrics(runDir);
    assert.equal(m.skipped, 1);
    assert.deepEqual(summary(m, 'loss'), { source: 'metrics.jsonl', last: 2, lastStep: 2, min: 2, max: 2, steps: 1, nans: 0 });
  });

  it('has no metrics for a missing folder or a file where the folder should be', async () => {
    assert.deepEqual(await readRunMetrics(path.join(runDir, 'nope')), { metrics: nameMap(), skipped: 0 });
    write('file', 'x');
    assert.deepEqual(await readRunMetrics(path.join(runDir, 'file')), { metrics: nameMap(), skipped: 0 });
    assert.equal(await readMetricSeries(path.join(runDir, 'nope'), 'loss'), undefined);
  });

  it('does not follow a link the container left in the run folder', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-outside-'));
    try {
      fs.writeFileSync(path.join(outside, 'metrics.jsonl'), '{"secret": 42}\n');
      fs.symlinkSync(path.join(outside, 'metrics.jsonl'), path.join(runDir, 'metrics.jsonl'));
      fs.symlinkSync(outside, path.join(runDir, 'logs'));
      assert.deepEqual(await readRunMetrics(runDir), { metrics: nameMap(), skipped: 0 });
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('streams a 100 MB metrics.jsonl up to the cap with the heap staying flat, and says the file was cut', async function () {
    this.timeout(300_000);
    const file = path.join(runDir, 'metrics.jsonl');
    const out = fs.openSync(file, 'w');
    let lines = 0;
    for (let block = 0; fs.fstatSync(out).size < 100 << 20; block++) {
      const chunk: string[] = [];
      for (let i = 0; i < 20_000; i++, lines++)
        chunk.push(`{"step": ${lines}, "loss": ${(1 / (lines + 1)).toFixed(8)}, "val_acc": 0.${lines % 1000}}`);
      fs.writeSync(out, chunk.join('\n') + '\n');
    }
    fs.closeSync(out);
    v8.setFlagsFromString('--expose-gc');
    (vm.runInNewContext('gc') as () => void)();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 1);
    const m = await readRunMetrics(runDir);
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    // The first 64 MiB are read, up to the last whole line in them; the rest is said, not read.
    const readLines = m.metrics.loss!.steps;
    assert.ok(readLines > 0 && readLines < lines, `${readLines} of ${lines} lines`);
    assert.equal(m.metrics.loss!.lastStep, readLines - 1);
    assert.ok(fs.readFileSync(file).subarray(0, MAX_METRIC_FILE_BYTES).toString().split('\n').length - 1 === readLines);
    assert.equal(m.metrics.val_acc!.max, 0.999);
    assert.deepEqual(m.filesCut, { count: 1, first: ['"metrics.jsonl"'] });
    assert.equal(m.skipped, 1);
    const growthMb = (peak - before) / (1 << 20);
    assert.ok(
      growthMb < 50,
      `the heap grew by ${growthMb.toFixed(0)} MB reading a ${(fs.statSync(file).size / (1 << 20)).toFixed(0)} MB file`,
    );
  });
});

describe('run metrics: PyTorch Lightning CSVLogger', () => {
  const CSV = [
    'epoch,step,train_loss,val_acc,val_loss',
    '0,49,0.9,,',
    '0,99,0.7,,',
    '0,99,,0.61,0.8',
    '1,149,nan,,',
    '1,199,0.5,,',
    '1,199,,0.72,inf',
    '',
  ].join('\n');

  it('reads sparse rows of lightning_logs/version_N/metrics.csv, empty cells being no value', async () => {
    write('lightning_logs/version_0/metrics.csv', CSV);
    write('lightning_logs/version_0/hparams.yaml', 'lr: 0.1\n');
    const m = await readRunMetrics(runDir);
    assert.deepEqual(Object.keys(m.metrics), ['epoch', 'train_loss', 'val_acc', 'val_loss']);
    assert.deepEqual(summary(m, 'train_loss'), { source: 'lightning', last: 0.5, lastStep: 199, min: 0.5, max: 0.9, steps: 4, nans: 1 });
    assert.deepEqual(summary(m, 'val_acc'), { source: 'lightning', last: 0.72, lastStep: 199, min: 0.61, max: 0.72, steps: 2, nans: 0 });
    assert.deepEqual(summary(m, 'val_loss'), {
      source: 'lightning',
      last: Infinity,
      lastStep: 199,
      min: 0.8,
      max: Infinity,
      steps: 2,
      nans: 0,
    });
    assert.equal(m.metrics.step, undefined);
    assert.equal(m.skipped, 0);
    const series = await readMetricSeries(runDir, 'val_acc');
    assert.deepEqual(series, { name: 'val_acc', source: 'lightning', steps: [99, 199], values: [0.61, 0.72] });
  });

  it('skips and counts rows of the wrong width, an unreadable step or a cell that is not a number', async () => {
    write(
      'logs/exp/version_3/metrics.csv',
      ['step,loss,"val,acc"', '1,0.5,0.1', '2,0.4', 'two,0.3,0.2', '3,abc,0.3', '4,0.2,"0.4"'].join('\n'),
    );
    const m = await readRunMetrics(runDir);
    assert.equal(m.skipped, 3);
    assert.deepEqual(summary(m, 'loss'), { source: 'lightning', last: 0.2, lastStep: 4, min: 0.2, max: 0.5, steps: 2, nans: 0 });
    assert.deepEqual(
      summary(m, 'val,acc'),
      { source: 'lightning', last: 0.4, lastStep: 4, min: 0.1, max: 0.4, steps: 3, nans: 0 },
      'the good cells of a row with a bad one are kept',
    );
  });

  it('names the metrics of two version folders by their folder', async () => {
    write('lightning_logs/version_0/metrics.csv', 'step,loss\n1,0.5\n');
    write('lightning_logs/version_1/metrics.csv', 'step,loss\n1,0.25\n');
    const m = await readRunMetrics(runDir);
    assert.deepEqual(Object.keys(m.metrics), ['version_0/loss', 'version_1/loss']);
    assert.equal(m.metrics['version_1/loss']!.last, 0.25);
  });
});

describe('run metrics: DVCLive', () => {
  it('reads nested series from plots/metrics and values logged without one from metrics.json', async () => {
    write('dvclive/plots/metrics/train/loss.tsv', 'timestamp\tstep\tloss\n1700000000\t0\t0.9\n1700000001\t1\t0.6\n1700000002\t2\tnan\n');
    write('dvclive/plots/metrics/val/acc.tsv', 'timestamp\tstep\tacc\n1700000000\t0\t0.5\nbroken\n1700000002\t2\t0.7\n');
    write('dvclive/metrics.json', JSON.stringify({ train: { loss: 0.1 }, val: { acc: 0.7, f1: { macro: 0.66 } }, step: 2, note: 'x' }));
    const m = await readRunMetrics(runDir);
    assert.deepEqual(Object.keys(m.metrics), ['train/loss', 'val/acc', 'val/f1/macro']);
    assert.deepEqual(
      summary(m, 'train/loss'),
      { source: 'dvclive', last: NaN, lastStep: 2, min: 0.6, max: 0.9, steps: 3, nans: 1 },
      'the series wins over metrics.json',
    );
    assert.deepEqual(summary(m, 'val/acc'), { source: 'dvclive', last: 0.7, lastStep: 2, min: 0.5, max: 0.7, steps: 2, nans: 0 });
    assert.deepEqual(summary(m, 'val/f1/macro'), { source: 'dvclive', last: 0.66, lastStep: 2, min: 0.66, max: 0.66, steps: 1, nans: 0 });
    assert.equal(m.skipped, 1);
  });

  it('finds DVCLive written straight into the run folder with Live(dir=$MLC_RUN_DIR)', async () => {
    write('plots/metrics/loss.tsv', 'timestamp\tstep\tloss\n1\t5\t0.25\n');
    write('metrics.json', '{"loss": 0.25, "step": 5}');
    const m = await readRunMetrics(runDir);
    assert.deepEqual(summary(m, 'loss'), { source: 'dvclive', last: 0.25, lastStep: 5, min: 0.25, max: 0.25, steps: 1, nans: 0 });
  });

  it('counts a metrics.json that is not JSON and reads Python NaN in one that is', async () => {
    write('dvclive/metrics.json', '{"loss": NaN, "acc": 0.5}');
    assert.deepEqual(summary(await readRunMetrics(runDir), 'loss'), {
      source: 'dvclive',
      last: NaN,
      lastStep: 0,
      min: NaN,
      max: NaN,
      steps: 1,
      nans: 1,
    });
    write('dvclive/metrics.json', '{"loss": ');
    assert.deepEqual(await readRunMetrics(runDir), { metrics: nameMap(), skipped: 1 });
  });
});

describe('run metrics: TensorBoard event files', () => {
  it('checks CRC-32C against the published vectors and masks it as TFRecord does', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    // The length fields of the first two records of a file TensorFlow 2's summary writer wrote, and their CRCs.
    const uint64 = (n: number): Buffer => Buffer.from(BigUint64Array.of(BigInt(n)).buffer);
    assert.equal(maskedCrc32c(uint64(24)), 0x224b7fa3);
    assert.equal(maskedCrc32c(uint64(49)), 0xe983839d);
  });

  it('reads scalars written as simple_value, as a float_val tensor and as tensor_content', async () => {
    write(
      'tb/events.out.tfevents.1700000000.host.1.0',
      Buffer.concat([
        fileVersionRecord(),
        eventRecord(0, [
          { tag: 'loss', simple: 0.9 },
          { tag: 'acc', floatVal: 0.25, plugin: 'scalars' },
        ]),
        eventRecord(1, [
          { tag: 'loss', simple: 0.3 },
          { tag: 'acc', floatVal: 0.5, shape: [] },
          { tag: 'lr', content: 0.001, dtype: 'double', plugin: 'scalars' },
        ]),
        eventRecord(2, [
          { tag: 'loss', simple: 0 },
          { tag: 'acc', content: 0.75, dtype: 'float' },
          { tag: 'lr', content: 0.0001, dtype: 'double' },
        ]),
      ]),
    );
    const m = await readRunMetrics(runDir);
    assert.deepEqual(Object.keys(m.metrics), ['loss', 'acc', 'lr']);
    assert.deepEqual(
      summary(m, 'loss'),
      { source: 'tensorboard', last: 0, lastStep: 2, min: 0, max: 0.9, steps: 3, nans: 0 },
      'float32 0.3 reads as 0.3, and 0 is a value',
    );
    assert.deepEqual(summary(m, 'acc'), { source: 'tensorboard', last: 0.75, lastStep: 2, min: 0.25, max: 0.75, steps: 3, nans: 0 });
    assert.deepEqual(summary(m, 'lr'), { source: 'tensorboard', last: 0.0001, lastStep: 2, min: 0.0001, max: 0.001, steps: 2, nans: 0 });
    assert.equal(m.skipped, 0);
    assert.deepEqual(await readMetricSeries(runDir, 'loss'), {
      name: 'loss',
      source: 'tensorboard',
      steps: [0, 1, 2],
      values: [0.9, 0.3, 0],
    });
  });

  it('passes over histograms and other tensors that are not one scalar', async () => {
    write(
      'events.out.tfevents.1',
      Buffer.concat([
        eventRecord(0, [
          { tag: 'weights', doubles: [0, 1, 5], shape: [1, 3], plugin: 'histograms' },
          { tag: 'one', doubles: [7], shape: [1], plugin: 'histograms' },
        ]),
        eventRecord(1, [
          { tag: 'one', content: 7, dtype: 'double' },
          { tag: 'loss', simple: 1 },
        ]),
      ]),
    );
    assert.deepEqual(Object.keys((await readRunMetrics(runDir)).metrics), ['loss'], 'a tag whose first value said histograms stays one');
  });

  it('keeps NaN and infinities', async () => {
    write(
      'events.out.tfevents.1',
      Buffer.concat([
        eventRecord(0, [{ tag: 'loss', simple: NaN }]),
        eventRecord(1, [{ tag: 'loss', floatVal: Infinity }]),
        eventRecord(2, [{ tag: 'loss', content: -Infinity, dtype: 'double' }]),
      ]),
    );
    assert.deepEqual(summary(await readRunMetrics(runDir), 'loss'), {
      source: 'tensorboard',
      last: -Infinity,
      lastStep: 2,
      min: -Infinity,
      max: Infinity,
      steps: 3,
      nans: 1,
    });
  });

  it('skips and counts a record whose data fails its CRC, and stops at a length that fails its CRC', async () => {
    const bad = eventRecord(1, [{ tag: 'loss', simple: 5 }]);
    bad[bad.length - 6] ^= 0xff;
    const badLength = eventRecord(3, [{ tag: 'loss', simple: 7 }]);
    badLength[9] ^= 0xff;
    write(
      'events.out.tfevents.1',
      Buffer.concat([
        eventRecord(0, [{ tag: 'loss', simple: 1 }]),
        bad,
        eventRecord(2, [{ tag: 'loss', simple: 2 }]),
        badLength,
        eventRecord(4, [{ tag: 'loss', simple: 4 }]),
      ]),
    );
    const m = await readRunMetrics(runDir);
    assert.equal(m.skipped, 2);
    assert.deepEqual(summary(m, 'loss'), { source: 'tensorboard', last: 2, lastStep: 2, min: 1, max: 2, steps: 2, nans: 0 });
  });

  it('counts a truncated last record, and a record that is not an Event', async () => {
    const whole = eventRecord(1, [{ tag: 'loss', simple: 2 }]);
    write(
      'events.out.tfevents.1',
      Buffer.concat([eventRecord(0, [{ tag: 'loss', simple: 1 }]), frame(Buffer.from([0x12, 0xff])), whole.subarray(0, whole.length - 3)]),
    );
    const m = await readRunMetrics(runDir);
    assert.equal(m.skipped, 2);
    assert.equal(m.metrics.loss!.steps, 1);
  });

  it('names the runs of Keras-style train and validation folders, and joins a folder’s files in name order', async () => {
    write('logs/train/events.out.tfevents.1700000000.h.1.v2', eventRecord(0, [{ tag: 'epoch_loss', simple: 0.9 }]));
    write('logs/train/events.out.tfevents.1700000500.h.2.v2', eventRecord(1, [{ tag: 'epoch_loss', simple: 0.7 }]));
    write('logs/validation/events.out.tfevents.1700000000.h.1.v2', eventRecord(0, [{ tag: 'epoch_loss', simple: 1.1 }]));
    const m = await readRunMetrics(runDir);
    assert.deepEqual(Object.keys(m.metrics), ['train/epoch_loss', 'validation/epoch_loss']);
    assert.deepEqual(summary(m, 'train/epoch_loss'), {
      source: 'tensorboard',
      last: 0.7,
      lastStep: 1,
      min: 0.7,
      max: 0.9,
      steps: 2,
      nans: 0,
    });
  });
});

describe('run metrics: sources together, and in run records', () => {
  it('gives a name two kinds of file write to the first kind, never mixing their values', async () => {
    write('metrics.jsonl', '{"step": 1, "loss": 0.5}\n');
    write('lightning_logs/version_0/metrics.csv', 'step,loss,val_loss\n1,0.6,0.7\n2,0.55,\n');
    write(
      'lightning_logs/version_0/events.out.tfevents.1',
      eventRecord(1, [
        { tag: 'loss', simple: 9 },
        { tag: 'grad_norm', simple: 3 },
      ]),
    );
    const m = await readRunMetrics(runDir);
    assert.deepEqual(Object.fromEntries(Object.entries(m.metrics).map(([n, s]) => [n, [s.source, s.steps]])), {
      loss: ['metrics.jsonl', 1],
      val_loss: ['lightning', 1],
      grad_norm: ['tensorboard', 1],
    });
    assert.deepEqual(await readMetricSeries(runDir, 'loss'), { name: 'loss', source: 'metrics.jsonl', steps: [1], values: [0.5] });
    assert.equal(await readMetricSeries(runDir, 'nope'), undefined);
  });

  it('writes NaN and infinities as strings JSON can hold, and reads them back', async () => {
    write('metrics.jsonl', '{"step": 1, "loss": NaN, "grad": Infinity, "low": -Infinity}\n{"step": 2, "loss": NaN, "grad": 1, "low": 2}\n');
    const m = await readRunMetrics(runDir);
    const text = JSON.stringify(metricsToJson(m));
    assert.match(text, /"loss":\{"source":"metrics\.jsonl","last":"NaN","lastStep":2,"min":"NaN","max":"NaN","steps":2,"nans":2\}/);
    assert.match(text, /"grad":\{[^}]*"max":"Infinity"/);
    assert.match(text, /"low":\{[^}]*"min":"-Infinity"/);
    assert.deepEqual(metricsFromJson(JSON.parse(text)), m);
  });

  it('drops record entries of another shape and refuses what is not metrics', () => {
    const json = {
      metrics: {
        ok: { source: 'lightning', last: 1, lastStep: 2, min: 0, max: 'Infinity', steps: 3, nans: 0 },
        odd: { source: 'wandb', last: 1 },
        bad: { source: 'dvclive', last: 'high', lastStep: 0, min: 0, max: 0, steps: 1, nans: 0 },
      },
      skipped: 4,
    };
    assert.deepEqual(metricsFromJson(json), {
      metrics: nameMap([['ok', { source: 'lightning', last: 1, lastStep: 2, min: 0, max: Infinity, steps: 3, nans: 0 }]]),
      skipped: 4,
    });
    assert.equal(metricsFromJson('metrics'), undefined);
    assert.equal(metricsFromJson({ metrics: [] }), undefined);
  });
});

describe('run metrics: what a container can make the host read', () => {
  const write = (rel: string, text: string | Buffer): void => {
    fs.mkdirSync(path.dirname(path.join(runDir, rel)), { recursive: true });
    fs.writeFileSync(path.join(runDir, rel), text);
  };

  it('keeps constructor, toString and __proto__ as metrics like any other, in summaries, series and the record', async () => {
    write(
      'metrics.jsonl',
      '{"step": 1, "constructor": 1, "toString": 2, "__proto__": 3, "hasOwnProperty": 4}\n{"step": 2, "constructor": 5, "toString": 6, "__proto__": 7, "hasOwnProperty": 8}\n',
    );
    const { metrics, series } = await readRunSeries(runDir);
    assert.deepEqual(Object.keys(metrics.metrics), ['constructor', 'toString', '__proto__', 'hasOwnProperty']);
    assert.deepEqual(
      ['constructor', 'toString', '__proto__', 'hasOwnProperty'].map((n) => metrics.metrics[n]?.last),
      [5, 6, 7, 8],
    );
    assert.deepEqual(
      ['constructor', 'toString', '__proto__', 'hasOwnProperty'].map((n) => series[n]?.values),
      [
        [1, 5],
        [2, 6],
        [3, 7],
        [4, 8],
      ],
    );
    // A name the run did not write is not found on Object.prototype either.
    assert.equal(metrics.metrics.valueOf, undefined);
    assert.deepEqual((await readMetricSeries(runDir, '__proto__'))?.values, [3, 7]);
    const back = metricsFromJson(JSON.parse(JSON.stringify(metricsToJson(metrics))));
    assert.deepEqual(
      ['constructor', 'toString', '__proto__'].map((n) => back?.metrics[n]?.last),
      [5, 6, 7],
    );
  });

  it(`keeps the first ${MAX_METRIC_NAMES} names of a run and counts and names the rest, escaped`, async () => {
    const names = Array.from({ length: MAX_METRIC_NAMES + 50 }, (_, i) => `m${i}`);
    names[MAX_METRIC_NAMES] = 'evil\x1b]52;c;eA==\x07';
    write('metrics.jsonl', `${JSON.stringify(Object.fromEntries(names.map((n) => [n, 1])))}\n{"m0": 2, "m${MAX_METRIC_NAMES + 1}": 2}\n`);
    // A second kind of file cannot bring more names either.
    write('lightning_logs/version_0/metrics.csv', 'step,other\n0,1\n');
    const m = await readRunMetrics(runDir);
    assert.equal(Object.keys(m.metrics).length, MAX_METRIC_NAMES);
    assert.equal(m.metrics.m0!.last, 2);
    assert.equal(m.metrics.other, undefined);
    assert.equal(m.namesLeftOut?.count, 51);
    assert.deepEqual(m.namesLeftOut?.first, ['"evil\\x1b]52;c;eA==\\x07"', '"m1001"', '"m1002"', '"m1003"', '"m1004"']);
    assert.deepEqual(metricsFromJson(JSON.parse(JSON.stringify(metricsToJson(m))))?.namesLeftOut, m.namesLeftOut);
    assert.match(leftOutSentence(m)!, /^51 metric name\(s\) past the first 1000 were not read \("evil\\x1b/);
  });

  it("thins the series read for a chart, a running run's included", async () => {
    write('metrics.jsonl', Array.from({ length: 10_000 }, (_, i) => `{"step": ${i}, "loss": ${i}}`).join('\n') + '\n');
    const s = await readMetricSeries(runDir, 'loss', 100);
    assert.ok(s && s.steps.length <= 101, `${s?.steps.length} points`);
    assert.equal(s.steps.at(-1), 9999);
  });

  it('reads no more of a sparse 1 TB metrics.jsonl than the cap, and names it', async function () {
    this.timeout(60_000);
    // Zeros that take no disk and hold no newline: a reader without a cap would go through all of them.
    const fd = fs.openSync(path.join(runDir, 'metrics.jsonl'), 'w');
    fs.ftruncateSync(fd, 2 ** 40);
    fs.closeSync(fd);
    const m = await readRunMetrics(runDir);
    assert.deepEqual(m.filesCut, { count: 1, first: ['"metrics.jsonl"'] });
    // The line over 1 MiB, and the cut file.
    assert.equal(m.skipped, 2);
  });

  it('escapes what it names: controls, invisible and reordering characters, cut at 64 characters', () => {
    assert.equal(printable('a\u202eb\u0085c\n', 64), '"a\\u202eb\\x85c\\n"');
    assert.equal(printable('x'.repeat(100), 64), `"${'x'.repeat(64)}…"`);
  });
});

describe('runs that log with MLflow (a file store in the run folder)', () => {
  it('reads mlruns/<experiment>/<run>/metrics/<name> like the other formats: one point per "timestamp value step" line', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-mlflow-'));
    try {
      const run = path.join(dir, 'mlruns', '0', '4f2c9a');
      fs.mkdirSync(path.join(run, 'metrics', 'train'), { recursive: true });
      fs.mkdirSync(path.join(run, 'params'));
      fs.writeFileSync(path.join(run, 'meta.yaml'), 'run_id: 4f2c9a\nstatus: 3\n');
      fs.writeFileSync(path.join(run, 'params', 'lr'), '0.1');
      fs.writeFileSync(path.join(run, 'metrics', 'val_acc'), '1733390000000 0.5 0\n1733390001000 0.75 1\n1733390002000 0.875 2\n');
      fs.writeFileSync(path.join(run, 'metrics', 'train', 'loss'), '1733390000000 1.5 0\n1733390001000 nan 1\nnot a line\n');
      // A link the container planted among the metrics is not followed.
      fs.symlinkSync('/etc/passwd', path.join(run, 'metrics', 'passwd'));
      const { metrics } = await readRunSeries(dir, 100);
      assert.deepEqual(Object.keys(metrics.metrics).sort(), ['train/loss', 'val_acc']);
      assert.deepEqual(
        [metrics.metrics.val_acc?.last, metrics.metrics.val_acc?.steps, metrics.metrics.val_acc?.source],
        [0.875, 3, 'mlflow'],
      );
      assert.equal(metrics.metrics['train/loss']?.nans, 1);
      assert.equal(metrics.skipped, 1, 'the line that is not a point');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
