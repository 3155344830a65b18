import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as yaml from 'yaml';
import type { Engine } from '../../src/core/docker/engine';
import { PYTORCH_STANDIN, readExample } from '../../src/core/scaffold/quickstart';
import { requireEngine, requireImage } from './harness';

const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);

interface Row {
  step: number;
  train_loss: number;
  val_loss: number;
  val_acc: number;
}

function metrics(dir: string): Row[] {
  return fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Row);
}

describe('the quickstart example trains under torchrun (real engine, PyTorch stand-in, CPU)', function () {
  let engine: Engine;
  let dir: string;

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, PYTORCH_STANDIN);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-ddp-'));
    for (const file of await readExample(path.join(ROOT, 'templates'), 'pytorch-digits')) {
      fs.mkdirSync(path.dirname(path.join(dir, file.path)), { recursive: true });
      fs.writeFileSync(path.join(dir, file.path), file.content);
    }
    // Outside `mlc run` nothing picks a sweep point, so the config holds the sweep's first learning rate.
    const config = yaml.parse(fs.readFileSync(path.join(dir, 'configs/experiment.yaml'), 'utf8')) as {
      optimizer: { lr: number | number[] };
    };
    if (Array.isArray(config.optimizer.lr)) config.optimizer.lr = config.optimizer.lr[0]!;
    fs.writeFileSync(path.join(dir, 'point.yaml'), yaml.stringify(config));
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function inImage(...command: string[]): Promise<{ stdout: string; stderr: string }> {
    return run(
      'docker',
      [
        'run',
        '--rm',
        '-v',
        `${dir}:/w`,
        '-w',
        '/w',
        '-e',
        'MLC_CONFIG=/w/point.yaml',
        '-e',
        'OMP_NUM_THREADS=1',
        PYTORCH_STANDIN,
        ...command,
      ],
      { encoding: 'utf8', timeout: 240_000 },
    );
  }

  it('two processes train the one-process model: same losses, and only rank 0 writes metrics and model.pt', async () => {
    await inImage('sh', '-c', 'MLC_RUN_DIR=/w/runs/one exec python3 train.py');
    // Each rank gets its own MLC_RUN_DIR, so a rank other than 0 that wrote anything would leave it in its own folder
    // instead of overwriting rank 0's files unseen. The --redirects/--tee maps work around Debian's torch 1.13 on
    // Python 3.11, whose torchrun cannot parse its own default "0" (IntFlag no longer lists the zero member); they
    // also prefix each line with its local rank.
    const two = await inImage(
      'torchrun',
      '--standalone',
      '--nnodes',
      '1',
      '--nproc_per_node',
      '2',
      '--redirects',
      '0:1,1:1',
      '--tee',
      '0:1,1:1',
      '--no_python',
      'sh',
      '-c',
      'MLC_RUN_DIR=/w/runs/two/rank$RANK exec python3 train.py',
    );
    const out = two.stdout + two.stderr;
    assert.match(out, /^\[default0\]:rank 0 of 2: 719 of 1438 training images on cpu/m, out);
    assert.match(out, /^\[default1\]:rank 1 of 2: 719 of 1438 training images on cpu/m, out);
    assert.equal((out.match(/^\[default0\]:epoch /gm) ?? []).length, 8, out);
    assert.doesNotMatch(out, /^\[default1\]:epoch /m, 'only rank 0 logs metrics');

    const runs = path.join(dir, 'runs');
    assert.deepEqual(fs.readdirSync(path.join(runs, 'two/rank0')).sort(), ['metrics.jsonl', 'model.pt']);
    const rank1 = path.join(runs, 'two/rank1');
    assert.deepEqual(fs.existsSync(rank1) ? fs.readdirSync(rank1) : [], [], 'rank 1 writes nothing');

    // The ranks split every batch of the one-process run in two and DDP averages their gradients, so the runs differ
    // only in the rounding of that average: measured on this image, all 8 epochs agree to the 4 decimals written.
    const one = metrics(path.join(runs, 'one'));
    const ddp = metrics(path.join(runs, 'two/rank0'));
    assert.equal(ddp.length, one.length);
    const [a, b] = [one.at(-1)!, ddp.at(-1)!];
    assert.ok(Math.abs(a.train_loss - b.train_loss) <= 1e-3, `final train_loss: one process ${a.train_loss}, two ${b.train_loss}`);
    assert.ok(Math.abs(a.val_loss - b.val_loss) <= 1e-3, `final val_loss: one process ${a.val_loss}, two ${b.val_loss}`);

    // model.pt holds the plain model's weights (no DDP "module." prefix), the ones predict.py loads.
    const compare = await inImage(
      'python3',
      '-c',
      'import torch; a = torch.load("runs/one/model.pt"); b = torch.load("runs/two/rank0/model.pt"); ' +
        'assert a.keys() == b.keys(), (list(a), list(b)); print(max((a[k] - b[k]).abs().max().item() for k in a))',
    );
    assert.ok(Number(compare.stdout) <= 1e-4, `largest weight difference ${compare.stdout}`);
  });
});
