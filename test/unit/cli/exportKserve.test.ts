import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'yaml';
import type { ExportK8sDeps } from '../../../src/cli/exportK8s';
import { exportKserve } from '../../../src/cli/exportKserve';
import type { CliIO } from '../../../src/cli/io';
import { UsageError } from '../../../src/cli/io';
import { REVISION_LABEL } from '../../../src/core/labels';
import { mlcInProcess, recordingIO } from '../../helpers/cli';
import { MODEL_RUN, modelImage } from '../../helpers/modelImage';
import { FakeEngine } from '../fakes/engine';

const MODEL = `digits-model:${MODEL_RUN}`;
const PINNED = `registry.example.org/lab/digits-model@sha256:${'ab12'.repeat(16)}`;

describe('mlc export kserve (fake engine, fake kubectl)', () => {
  let dir: string;
  let engine: FakeEngine;
  let kubectlCalls: string[][];
  let kubectl: ExportK8sDeps['kubectl'];
  let streams: CliIO & { stdout: string[]; stderr: string[] };

  const deps = (): ExportK8sDeps => ({
    engine: () => engine,
    kubectl: (args, quiet) => (kubectlCalls.push(args), kubectl(args, quiet)),
    pushRecord: path.join(dir, 'pushed.jsonl'),
  });
  const run = (args: string[]): Promise<number> => exportKserve(args, streams, new AbortController().signal, deps());
  const manifests = (): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.kserve.yaml'));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-kserve-'));
    engine = new FakeEngine();
    engine.images.set(MODEL, modelImage({ repoDigests: [PINNED] }));
    kubectlCalls = [];
    kubectl = () => ({ status: 0 });
    streams = recordingIO();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes <name>.kserve.yaml with the model pinned by its registry digest, and prints its path', async () => {
    assert.equal(await run([MODEL, '--out', dir]), 0, streams.stderr.join('\n'));
    const file = path.join(dir, 'digits-model.kserve.yaml');
    assert.deepEqual(streams.stdout, [file]);
    const s = yaml.parse(fs.readFileSync(file, 'utf8'), { version: '1.1' }) as {
      kind: string;
      metadata: { name: string };
      spec: { predictor: { containers: { name: string; image: string }[] } };
    };
    assert.equal(s.kind, 'InferenceService');
    assert.equal(s.metadata.name, 'digits-model');
    assert.deepEqual(
      s.spec.predictor.containers.map((c) => [c.name, c.image]),
      [['kserve-container', PINNED]],
    );
    assert.deepEqual(kubectlCalls, []);
  });

  it('refuses a model never pushed, in one sentence that says to `mlc push` it first, and writes nothing', async () => {
    engine.images.set(MODEL, modelImage());
    assert.equal(await run([MODEL, '--out', dir, '--json']), 1);
    assert.equal(streams.stderr.length, 1);
    assert.match(
      streams.stderr[0]!,
      new RegExp(`^${MODEL} exists only on this machine .*Push it first \\(mlc push ${MODEL} --registry REGISTRY\\)`),
    );
    assert.deepEqual(JSON.parse(streams.stdout[0]!), { error: streams.stderr[0] });
    assert.deepEqual(manifests(), []);
  });

  it('pins the digest from --registry when the model was pushed to several', async () => {
    const other = `ghcr.io/lab/digits-model@sha256:${'cd34'.repeat(16)}`;
    engine.images.set(MODEL, modelImage({ repoDigests: [other, PINNED] }));
    assert.equal(await run([MODEL, '--out', dir]), 1);
    assert.match(streams.stderr[0]!, /is in several registries .*pick one with --registry/);
    streams = recordingIO();
    assert.equal(await run([MODEL, '--out', dir, '--registry', 'ghcr.io/lab']), 0, streams.stderr.join('\n'));
    assert.match(fs.readFileSync(path.join(dir, 'digits-model.kserve.yaml'), 'utf8'), new RegExp(`image: ${other.replace(/[.]/g, '\\.')}`));
  });

  it('refuses an image that is not a model, and one that is not there, without writing anything', async () => {
    engine.images.set('dimuon:3f2a1bc', modelImage({ labels: { [REVISION_LABEL]: 'a'.repeat(40) }, repoDigests: [PINNED] }));
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir]), 1);
    assert.deepEqual(streams.stderr, [
      'dimuon:3f2a1bc is not a model image (it has no org.mlcontainers.role=model label): save a run as a model with `mlc model save RUN`, push it, then export that.',
    ]);
    streams = recordingIO();
    assert.equal(await run(['nothing:here', '--out', dir]), 1);
    assert.match(streams.stderr[0]!, /^No image nothing:here in this engine: `mlc models` lists the model images/);
    assert.deepEqual(manifests(), []);
  });

  it('keeps an existing manifest that differs unless --force, as mlc export k8s does', async () => {
    const file = path.join(dir, 'digits-model.kserve.yaml');
    fs.writeFileSync(file, '# edited by hand\n');
    assert.equal(await run([MODEL, '--out', dir]), 1);
    assert.deepEqual(streams.stderr, [`${file} exists and differs: nothing written (pass --force to replace it).`]);
    assert.equal(fs.readFileSync(file, 'utf8'), '# edited by hand\n');
    streams = recordingIO();
    assert.equal(await run([MODEL, '--out', dir, '--force']), 0);
    assert.match(fs.readFileSync(file, 'utf8'), /kind: InferenceService/);
    // The same export again is no change, so no --force is needed.
    streams = recordingIO();
    assert.equal(await run([MODEL, '--out', dir]), 0);
  });

  it('--name names the service and the model in /v2/models/NAME; --gpus asks for GPUs; bad values are usage errors', async () => {
    assert.equal(await run([MODEL, '--out', dir, '--name', 'digits-champion', '--gpus', '1']), 0);
    const text = fs.readFileSync(path.join(dir, 'digits-champion.kserve.yaml'), 'utf8');
    assert.match(text, /name: MLC_MODEL_NAME\n\s+value: digits-champion/);
    assert.match(text, /nvidia\.com\/gpu: 1/);
    await assert.rejects(run([MODEL, '--name', 'Digits_Champion']), UsageError);
    await assert.rejects(run([MODEL, '--gpus', 'two']), /--gpus takes a whole number, not "two"/);
    await assert.rejects(run([]), /usage: mlc export kserve MODEL/);
  });

  it('--apply runs kubectl apply -f on the manifest; --json reports it; a failed apply says KServe must be installed', async () => {
    assert.equal(await run([MODEL, '--out', dir, '--apply', '--json']), 0);
    const file = path.join(dir, 'digits-model.kserve.yaml');
    assert.deepEqual(kubectlCalls, [['apply', '-f', file]]);
    assert.deepEqual(JSON.parse(streams.stdout[0]!), { file, name: 'digits-model', image: PINNED, applied: true });
    kubectl = () => ({ status: 1 });
    streams = recordingIO();
    assert.equal(await run([MODEL, '--out', dir, '--apply']), 1);
    assert.match(streams.stderr.at(-1)!, /kubectl apply failed \(exit 1.*an InferenceService needs KServe installed in the cluster/);
    kubectl = () => undefined;
    streams = recordingIO();
    assert.equal(await run([MODEL, '--out', dir, '--apply']), 1);
    assert.match(streams.stderr.at(-1)!, /kubectl is not installed here: .*kubectl apply -f digits-model\.kserve\.yaml/);
  });

  it('notes a model trained from uncommitted changes', async () => {
    const image = modelImage({ repoDigests: [PINNED] });
    engine.images.set(MODEL, { ...image, labels: { ...image.labels, 'org.mlcontainers.model.dirty': 'true' } });
    assert.equal(await run([MODEL, '--out', dir]), 0);
    assert.deepEqual(streams.stderr, [`note: ${MODEL} was trained from uncommitted changes on top of 3f2a1bc.`]);
  });

  it('is `mlc export kserve`, and `mlc export --help` documents it with the cluster doing the authentication', async () => {
    const usage = await mlcInProcess(['export', 'kserve']);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /usage: mlc export kserve MODEL/);
    const help = await mlcInProcess(['export', '--help']);
    assert.match(help.out, /^mlc export kserve MODEL /m);
    assert.match(help.out, /MLC_SERVE_AUTH=none\): authentication is the cluster's/);
  });
});
