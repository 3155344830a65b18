// `mlc model save`: a tiny sweep's run saved as a model image FROM its image, the same id when saved again, a planted
// link refused; then the image moved with `docker save | docker load` to the second engine (another machine's
// filesystem), where `mlc inspect` reads the run, commit, params, metrics and artifact hashes from the image alone.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import type { ModelCard } from '../../src/core/model/card';
import { MODEL_LABELS } from '../../src/core/model/card';
import type { RunRecord } from '../../src/core/run/records';
import { readRuns } from '../../src/core/run/records';
import { git } from '../helpers/git';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { STANDIN_DEBIAN, requireEngine, requireImage, requireRemoteEngine } from './harness';

type Saved = { imageId: string; tag: string; card: ModelCard };

const ODD_METRIC = 'we$ird "${HOME}" \\';

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

describe('mlc model save (real engine, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  let name: string;
  let commit: string;
  let runs: RunRecord[];
  let saved: Saved | undefined;
  const images = new Set<string>();

  const inProject = (args: string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof mlc> =>
    mlc(args, { cwd: dir, env, timeoutMs: 240_000 });

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    assertBuiltCli();
    name = `mlc-model-test-${randomUUID().slice(0, 8)}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-model-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      `{ "name": "${name}", "build": { "dockerfile": "Dockerfile", "context": ".." } }\n`,
    );
    // A `pip` that lists one package, so the build captures an environment lock for the model to carry.
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'Dockerfile'),
      `FROM ${STANDIN_DEBIAN}\nRUN printf '#!/bin/sh\\necho tinytorch==1.2.3\\n' > /usr/local/bin/pip && chmod +x /usr/local/bin/pip\n`,
    );
    fs.writeFileSync(path.join(dir, 'configs', 'exp.yaml'), 'seed: 1\nlr: [0.1, 0.2]\noutputs: [model.pt]\n');
    fs.writeFileSync(path.join(dir, '.gitignore'), '.mlcontainers/\n');
    // A metric name the run chose: it reaches the labels through the Dockerfile's LABEL lines, quoted there.
    fs.writeFileSync(path.join(dir, 'extra.jsonl'), `${JSON.stringify({ step: 1, [ODD_METRIC]: 1 })}\n`);
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'model test');
    commit = git(dir, 'rev-parse', 'HEAD');
    const built = await inProject(['build']);
    assert.equal(built.code, 0, built.stderr);
    for (const tag of built.stdout.trim().split('\n').slice(1)) images.add(tag);
    // Each point writes weights of its own and a metric; the lr comes from the config the run was given.
    const train =
      'lr=$(sed -n "s/^lr: //p" "$MLC_CONFIG"); printf "weights lr=%s run=%s" "$lr" "$MLC_RUN_ID" > "$MLC_RUN_DIR/model.pt"; printf \'{"step": 1, "val_acc": 0.9%s, "train_loss": 0.1}\\n\' "${lr#0.}" > "$MLC_RUN_DIR/metrics.jsonl"; cat /workspace/extra.jsonl >> "$MLC_RUN_DIR/metrics.jsonl"';
    const ran = await inProject(['run', '--config', 'configs/exp.yaml', '--gpu', 'none', '--parallel', '1', '--', 'sh', '-c', train]);
    assert.equal(ran.code, 0, ran.stderr);
    runs = (await readRuns(dir)).runs;
    assert.equal(runs.length, 2);
  });

  after(async () => {
    for (const ref of images) await engine?.removeImage(ref, { force: true }).catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The second point's model, saved by the first test (or here, when a test runs alone). */
  const savedModel = async (): Promise<Saved> => {
    if (saved) return saved;
    const run = runs[1]!;
    const r = await inProject(['model', 'save', run.id, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout) as Saved;
    images.add(parsed.tag);
    saved = parsed;
    return parsed;
  };

  it("saves a run as <project>-model:<run id> FROM the run's image, with the artifact and a card in /opt/mlc/model, labelled with the run's facts", async () => {
    const run = runs[1]!;
    const { imageId, tag, card } = await savedModel();
    assert.equal(tag, `${name}-model:${run.id}`);
    assert.equal(card.run, run.id);
    assert.deepEqual(card.params, { lr: 0.2 });
    assert.deepEqual(card.metrics, { val_acc: 0.92, train_loss: 0.1, [ODD_METRIC]: 1 });
    assert.equal(card.commit, commit);
    assert.equal(card.image.id, run.image.id);
    assert.ok(card.environment, 'the training image had a lock');
    const weights = fs.readFileSync(path.join(dir, '.mlcontainers', 'runs', run.id, 'model.pt'));
    assert.deepEqual(card.artifacts, [{ name: 'model.pt', sha256: sha256(weights), size: weights.length }]);

    const image = (await engine.inspectImage(tag))!;
    assert.equal(image.id, imageId);
    assert.equal(image.labels[MODEL_LABELS.run], run.id);
    assert.equal(image.labels['org.opencontainers.image.revision'], commit);
    const inside = await engine.runCapture(imageId, [
      'sh',
      '-c',
      'cat /opt/mlc/model/model.pt; echo; cat /opt/mlc/model/card.json; ls /opt/mlc/model; stat -c "%a %U" /opt/mlc/model/model.pt /etc/mlc/environment.lock',
    ]);
    assert.equal(inside.exitCode, 0, inside.stderr);
    const [model, ...rest] = inside.stdout.split('\n');
    assert.equal(model, weights.toString());
    const cardText = rest.join('\n').slice(0, rest.join('\n').lastIndexOf('}') + 1);
    assert.deepEqual(JSON.parse(cardText), card);
    assert.equal(image.labels[MODEL_LABELS.cardSha256], sha256(`${cardText}\n`));
    assert.match(inside.stdout, /MODEL_CARD\.md\ncard\.json\nmodel\.pt\n644 root\n644 root\n$/);
  });

  it('saving the same run again gives the same image id, and the other run another one', async () => {
    const first = await savedModel();
    const again = await inProject(['model', 'save', runs[1]!.id]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.stdout.trim().split('\n'), [first.imageId, first.tag]);
    const other = await inProject(['model', 'save', runs[0]!.id]);
    assert.equal(other.code, 0, other.stderr);
    const [otherId, otherTag] = other.stdout.trim().split('\n');
    images.add(otherTag!);
    assert.notEqual(otherId, first.imageId);
  });

  it("a predict.py edited to the same length between two saves is the new one in the image (the context's bytes, not a cached sync)", async () => {
    const file = path.join(dir, 'predict.py');
    const version = (n: number): string => `def load(model_dir):\n    return ${n}\n\ndef predict(model, inputs):\n    return [model]\n`;
    try {
      const inImage = async (): Promise<string> => {
        const saved = await inProject(['model', 'save', runs[0]!.id]);
        assert.equal(saved.code, 0, saved.stderr);
        const [id, tag] = saved.stdout.trim().split('\n');
        images.add(tag!);
        const read = await engine.runCapture(id!, ['cat', '/opt/mlc/predict.py']);
        assert.equal(read.exitCode, 0, read.stderr);
        return read.stdout;
      };
      fs.writeFileSync(file, version(1));
      assert.equal(await inImage(), version(1));
      fs.writeFileSync(file, version(2));
      assert.equal(await inImage(), version(2));
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('mlc model tag gives an alias, and mlc models lists each model with its run, headline metric and aliases', async () => {
    const { imageId, tag } = await savedModel();
    const tagged = await inProject(['model', 'tag', tag, 'champion']);
    assert.equal(tagged.code, 0, tagged.stderr);
    assert.equal(tagged.stdout.trim(), `${name}-model:champion`);
    images.add(`${name}-model:champion`);
    const listed = await inProject(['models', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const mine = (
      JSON.parse(listed.stdout) as { id: string; name: string; run: string; aliases: string[]; headline: { name: string; value: number } }[]
    ).find((m) => m.id === imageId);
    assert.deepEqual(mine && { name: mine.name, run: mine.run, aliases: mine.aliases, headline: mine.headline }, {
      name: `${name}-model`,
      run: runs[1]!.id,
      aliases: ['champion'],
      headline: { name: 'val_acc', value: 0.92 },
    });
    const table = await inProject(['models']);
    assert.match(table.stdout, new RegExp(`${name}-model +${runs[1]!.id} +val_acc=0\\.92 +champion `));
  });

  it('a model.pt the run made a link to a host file is refused with one sentence, and nothing is tagged', async () => {
    fs.writeFileSync(path.join(dir, 'configs', 'one.yaml'), 'seed: 2\noutputs: model.pt\n');
    const ran = await inProject([
      'run',
      '--config',
      'configs/one.yaml',
      '--gpu',
      'none',
      '--',
      'sh',
      '-c',
      'ln -s /etc/passwd "$MLC_RUN_DIR/model.pt"',
    ]);
    assert.equal(ran.code, 0, ran.stderr);
    const run = (await readRuns(dir)).runs.at(-1)!;
    const r = await inProject(['model', 'save', run.id]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr.trim(),
      `mlc model: model.pt in .mlcontainers/runs/${run.id}/ is a link, and the host follows no link a run made: have the training code save the file itself into $MLC_RUN_DIR.`,
    );
    assert.equal(await engine.inspectImage(`${name}-model:${run.id}`), undefined);
    assert.equal(await engine.inspectImage(`${name}-model:mlc-from-${run.id}`), undefined, 'no temporary tag left');
  });

  it('after docker save | docker load on another engine, mlc inspect there names the run, commit, params, metrics and artifact sha256', async function () {
    const { engine: remote, host } = await requireRemoteEngine(this);
    const { imageId, tag, card } = await savedModel();
    try {
      // The docker CLI's own save and load: what a user does to carry an image to a machine without a registry.
      execFileSync('sh', ['-c', 'docker save "$1" | DOCKER_HOST="$2" docker load', 'sh', tag, host], {
        env: { ...process.env, DOCKER_CONTEXT: '' },
        stdio: ['ignore', 'ignore', 'pipe'],
        maxBuffer: 1024 ** 3,
      });
      assert.equal((await remote.inspectImage(tag))?.id, imageId);
      const env = { DOCKER_HOST: host, DOCKER_CONTEXT: '', DOCKER_TLS_VERIFY: '' };
      // Another folder: nothing of the project (runs.jsonl, locks) is there to read.
      const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-model-elsewhere-'));
      try {
        const text = await mlc(['inspect', tag], { cwd: elsewhere, env });
        assert.equal(text.code, 0, text.stderr);
        const lines = text.stdout.split('\n');
        const row = (key: string): string | undefined =>
          lines
            .slice(lines.indexOf('Model'))
            .find((l) => l.startsWith(`${key.padEnd(11)} `))
            ?.slice(12);
        assert.equal(row('run'), `${card.run} (sweep ${runs[1]!.sweep!.id}, point 2 of 2)`);
        assert.equal(row('commit'), commit);
        assert.equal(row('params'), 'lr=0.2');
        assert.equal(row('metrics'), `val_acc=0.92 (headline), train_loss=0.1, "we$ird \\"\${HOME}\\" \\\\"=1`);
        assert.equal(row('artifacts'), `model.pt  ${card.artifacts[0]!.size} bytes  sha256:${card.artifacts[0]!.sha256}`);
        assert.equal(row('env lock'), `sha256:${card.environment!.sha256} (the training image's, carried by this one)`);
        assert.match(text.stdout, /^lock +sha256:[0-9a-f]{64}, \d+ packages \(in the image at \/etc\/mlc\/environment\.lock\)$/m);
        const json = await mlc(['inspect', tag, '--json'], { cwd: elsewhere, env });
        assert.equal(json.code, 0, json.stderr);
        const report = JSON.parse(json.stdout) as {
          provenance: { revision: string };
          model: { run: string; commit: string; params: unknown; metrics: unknown; artifacts: unknown; data: unknown };
        };
        assert.equal(report.provenance.revision, commit);
        assert.deepEqual(
          {
            run: report.model.run,
            commit: report.model.commit,
            params: report.model.params,
            metrics: report.model.metrics,
            artifacts: report.model.artifacts,
            data: report.model.data,
          },
          { run: card.run, commit, params: card.params, metrics: card.metrics, artifacts: card.artifacts, data: [] },
        );
      } finally {
        fs.rmSync(elsewhere, { recursive: true, force: true });
      }
    } finally {
      await remote.removeImage(imageId, { force: true }).catch(() => undefined);
    }
  });
});
