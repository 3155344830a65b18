import { execFileSync } from 'node:child_process';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { readRuns } from '../../src/core/run/records';
import { PYTORCH_STANDIN } from '../../src/core/scaffold/quickstart';
import { git } from '../helpers/git';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { requireEngine, requireImage } from './harness';

// No registry answers on 127.0.0.1:1, so the catalog's base counts as unreachable wherever this runs: the test takes
// the stand-in path every time instead of pulling several GB where a network happens to be.
const NO_REGISTRY = { MLC_REGISTRY_MIRROR: '127.0.0.1:1' };

describe('mlc quickstart end to end (real engine, dist/cli.js)', function () {
  let engine: Engine;
  let parent: string;
  const names: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, PYTORCH_STANDIN);
    assertBuiltCli();
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-quickstart-'));
  });

  after(async () => {
    // The project's image and the model image the quickstart saved from it.
    for (const name of names.flatMap((n) => [n, `${n}-model`])) {
      for (const image of await engine.listImages({ reference: name }).catch(() => [])) {
        for (const tag of image.repoTags) await engine.removeImage(tag, { force: true }).catch(() => undefined);
      }
    }
    if (parent) fs.rmSync(parent, { recursive: true, force: true });
  });

  it('writes, builds and runs the two-point sweep, records both runs with their metrics, and prints their comparison', async () => {
    const name = `mlc-qs-${randomBytes(3).toString('hex')}`;
    names.push(name);
    const dir = path.join(parent, name);
    const r = await mlc(['quickstart', dir], { env: NO_REGISTRY });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /cannot be pulled here \(.*\): using the local stand-in mlc-test\/pytorch:bookworm that `npm run engine` builds\./,
    );
    for (let n = 1; n <= 7; n++) assert.match(r.stderr, new RegExp(`^\\(${n}/7\\) `, 'm'), `step ${n} is announced`);
    // It ends with a prediction: the best run's model saved, served, asked for a held-out digit, and stopped.
    assert.match(
      r.stdout,
      /Held-out image 362 \(heldout\.json\), sent to http:\/\/127\.0\.0\.1:\d+\/v2\/models\/[^/]+\/infer:\n {2}the model says \d; the label is 6/,
    );
    assert.match(r.stdout, /^Model card \(\/opt\/mlc\/model\/card\.json/m);
    assert.match(r.stdout, /^ {2}model\.pt: \d+ bytes, sha256:[0-9a-f]{64}$/m);
    const models = await mlc(['models', '--json'], { env: NO_REGISTRY });
    assert.equal(models.code, 0, models.stderr);
    assert.ok(models.stdout.includes(`${name}-model`), models.stdout);
    const servers = execFileSync('docker', ['ps', '-a', '--filter', 'label=org.mlcontainers.role=serve', '--format', '{{.Names}}'], {
      encoding: 'utf8',
    });
    assert.ok(!servers.split('\n').some((n) => n.startsWith(name)), `the quickstart stopped and removed its server: ${servers}`);

    const { runs } = await readRuns(dir);
    assert.equal(runs.length, 2);
    const sweep = runs[0]!.sweep?.id;
    assert.ok(sweep);
    assert.deepEqual(
      runs.map((x) => [x.sweep?.id, x.status, x.exitCode, x.params['optimizer.lr']]),
      [
        [sweep, 'succeeded', 0, 0.1],
        [sweep, 'succeeded', 0, 0.01],
      ],
    );
    const head = git(dir, 'rev-parse', 'HEAD');
    for (const run of runs) {
      assert.equal(run.commit, head, 'the project is a repository and its runs record its commit');
      assert.ok(run.image.tags.includes(`${name}:latest`));
      const metrics = run.metrics?.metrics ?? {};
      assert.deepEqual(Object.keys(metrics).sort(), ['train_loss', 'val_acc', 'val_loss']);
      assert.equal(metrics.val_acc?.steps, 8, 'one line per epoch');
      assert.equal(metrics.val_acc?.source, 'metrics.jsonl');
    }

    // What it printed is the comparison `mlc runs --compare` prints for that sweep.
    const compare = await mlc(['runs', '--compare', '--sweep', sweep, '--dir', dir], { env: NO_REGISTRY });
    assert.equal(compare.code, 0, compare.stderr);
    assert.match(compare.stdout, /^RUN +STATUS +IMAGE +COMMIT +optimizer\.lr +train_loss +val_loss +val_acc$/m);
    assert.ok(
      r.stdout.includes(compare.stdout.trimEnd()),
      `quickstart printed:\n${r.stdout}\nmlc runs --compare printed:\n${compare.stdout}`,
    );
    assert.match(r.stdout, /mlc up --dir /);
    assert.match(r.stdout, /code /);

    // Run again: refused, and the project with its runs stays as it was.
    const again = await mlc(['quickstart', dir], { env: NO_REGISTRY });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists and is not empty: .*--force/);
    assert.equal((await readRuns(dir)).runs.length, 2);
  });

  it('a step that fails removes the project and puts back the folder --force moved aside', async () => {
    const name = `mlc-qs-${randomBytes(3).toString('hex')}`;
    names.push(name);
    const dir = path.join(parent, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine\n');
    const r = await mlc(['quickstart', dir, '--force', '--base-image', 'mlc-test/no-such-base:none'], { env: NO_REGISTRY });
    assert.equal(r.code, 1);
    const last = r.stderr.trim().split('\n').pop() ?? '';
    assert.match(
      last,
      /^mlc quickstart: .*\. .* was removed and the folder it replaced put back; run `mlc quickstart` again once that is fixed\.$/,
    );
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
    assert.deepEqual(
      fs.readdirSync(parent).filter((f) => f.startsWith(name) || f.startsWith(`.${name}`)),
      [name],
      'no staging or moved-aside folder is left',
    );
  });
});
