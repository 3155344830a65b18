import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'yaml';
import type { ExportK8sDeps } from '../../../src/cli/exportK8s';
import { exportK8s } from '../../../src/cli/exportK8s';
import type { CliIO } from '../../../src/cli/io';
import { UsageError } from '../../../src/cli/io';
import { runCli } from '../../../src/cli/main';
import type { ImageDetails } from '../../../src/core/docker/engine';
import { recordingIO } from '../../helpers/cli';
import { imageDetails } from '../../helpers/images';
import { recordPushes } from '../../../src/core/push/pushRecord';
import type { EngineVersion } from '../../../src/core/docker/engine';
import { FakeEngine } from '../fakes/engine';

/** Podman's Docker-compatible API: every local image has RepoDigests, pushed or not. */
class PodmanEngine extends FakeEngine {
  override async version(): Promise<EngineVersion> {
    return { version: '4.3.1', apiVersion: '1.41', os: 'linux', arch: 'amd64', components: ['Podman Engine'], isPodman: true };
  }
}

const SHA = '3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8';
const PINNED = `ghcr.io/lab/dimuon@sha256:${'ab12'.repeat(16)}`;
const CONFIG = 'lr: 0.001\n';

function image(over: Partial<ImageDetails> = {}): ImageDetails {
  return imageDetails({
    id: `sha256:${'27f5'.repeat(16)}`,
    repoTags: ['dimuon:3f2a1bc'],
    repoDigests: [PINNED],
    created: '',
    labels: {
      'org.opencontainers.image.revision': SHA,
      'org.mlcontainers.dirty': 'false',
      'org.mlcontainers.config.path': 'configs/experiment.yaml',
      'org.mlcontainers.config.sha256': createHash('sha256').update(CONFIG).digest('hex'),
    },
    ...over,
  });
}

describe('mlc export k8s (fake engine, fake kubectl)', () => {
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
  const run = (args: string[]): Promise<number> => exportK8s(args, streams, new AbortController().signal, deps());

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-k8s-'));
    fs.writeFileSync(path.join(dir, 'experiment.yaml'), CONFIG);
    engine = new FakeEngine();
    engine.images.set('dimuon:3f2a1bc', image());
    kubectlCalls = [];
    kubectl = () => ({ status: 0 });
    streams = recordingIO();
  });

  it('on Podman, refuses an image whose only digests are the ones Podman gives local images, as on Docker', async () => {
    engine = new PodmanEngine();
    engine.images.set(
      'dimuon:3f2a1bc',
      image({ repoDigests: [`docker.io/library/dimuon@sha256:${'cd34'.repeat(16)}`, `localhost/dimuon@sha256:${'cd34'.repeat(16)}`] }),
    );
    await assert.rejects(
      run(['dimuon:3f2a1bc', '--out', dir]),
      /^K8sExportError: dimuon:3f2a1bc exists only on this machine \(it has no registry digest\), so a cluster cannot pull it\. Push it first \(mlc push dimuon:3f2a1bc --registry REGISTRY\)/,
    );
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.k8s.yaml')),
      [],
    );
  });

  it('on Podman, pins the digest a registry gave `mlc push`', async () => {
    engine = new PodmanEngine();
    const local = `docker.io/library/dimuon@sha256:${'cd34'.repeat(16)}`;
    engine.images.set('dimuon:3f2a1bc', image({ repoDigests: [local, PINNED] }));
    await recordPushes(path.join(dir, 'pushed.jsonl'), image().id, [`${PINNED.split('@')[0]}:3f2a1bc@${PINNED.split('@')[1]}`]);
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir]), 0, streams.stderr.join('\n'));
    assert.match(fs.readFileSync(path.join(dir, 'dimuon-3f2a1bc.k8s.yaml'), 'utf8'), new RegExp(`image: ${PINNED}`));
  });

  it('writes <name>-<sha7>.k8s.yaml with the pinned image, the config and the command after --, and prints its path', async () => {
    const code = await run([
      'dimuon:3f2a1bc',
      '--config',
      path.join(dir, 'experiment.yaml'),
      '--out',
      dir,
      '--',
      'python',
      'train.py',
      '--epochs',
      '3',
    ]);
    assert.equal(code, 0, streams.stderr.join('\n'));
    const file = path.join(dir, 'dimuon-3f2a1bc.k8s.yaml');
    assert.deepEqual(streams.stdout, [file]);
    assert.deepEqual(streams.stderr, [], 'the config is the one the image was built with: no note');
    const [cm, job] = yaml
      .parseAllDocuments(fs.readFileSync(file, 'utf8'))
      .map(
        (d) =>
          d.toJS() as { kind: string; data?: object; spec?: { template: { spec: { containers: { image: string; args: string[] }[] } } } },
      );
    assert.equal(cm!.kind, 'ConfigMap');
    assert.deepEqual(cm!.data, { 'experiment.yaml': CONFIG });
    assert.equal(job!.kind, 'Job');
    assert.equal(job!.spec!.template.spec.containers[0]!.image, PINNED);
    assert.deepEqual(job!.spec!.template.spec.containers[0]!.args, ['python', 'train.py', '--epochs', '3']);
    assert.deepEqual(kubectlCalls, [], 'no --apply, no kubectl');
  });

  it('refuses an image that was never pushed, says to push it, and writes nothing', async () => {
    engine.images.set('dimuon:3f2a1bc', image({ repoDigests: [] }));
    await assert.rejects(run(['dimuon:3f2a1bc', '--out', dir]), /exists only on this machine.*mlc push dimuon:3f2a1bc --registry/);
    assert.deepEqual(fs.readdirSync(dir), ['experiment.yaml']);
  });

  it('refuses an image built from uncommitted changes unless --allow-dirty, then names it -dirty', async () => {
    engine.images.set('dimuon:3f2a1bc', image({ labels: { ...image().labels, 'org.mlcontainers.dirty': 'true' } }));
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir]), 1);
    assert.match(streams.stderr.join('\n'), /uncommitted changes.*--allow-dirty/);
    assert.deepEqual(fs.readdirSync(dir), ['experiment.yaml']);
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir, '--allow-dirty']), 0);
    assert.ok(fs.existsSync(path.join(dir, 'dimuon-3f2a1bc-dirty.k8s.yaml')));
  });

  it('never replaces a manifest that differs without --force; the same export again is fine', async () => {
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir]), 0);
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir]), 0);
    const file = path.join(dir, 'dimuon-3f2a1bc.k8s.yaml');
    fs.appendFileSync(file, '# edited\n');
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir, '--gpus', '2']), 1);
    assert.match(streams.stderr.join('\n'), /exists and differs: nothing written \(pass --force/);
    assert.match(fs.readFileSync(file, 'utf8'), /# edited\n$/);
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir, '--gpus', '2', '--force']), 0);
    assert.match(fs.readFileSync(file, 'utf8'), /nvidia\.com\/gpu: 2/);
  });

  it('notes when --config is not the file the image was built with', async () => {
    fs.writeFileSync(path.join(dir, 'other.yaml'), 'lr: 0.1\n');
    assert.equal(await run(['dimuon:3f2a1bc', '--config', path.join(dir, 'other.yaml'), '--out', dir]), 0);
    assert.match(streams.stderr.join('\n'), /is not the config dimuon:3f2a1bc was built with \(configs\/experiment\.yaml\)/);
  });

  it("--json prints one object (file, job name, pinned image, kinds, applied), kubectl's output kept off stdout", async () => {
    const quiet: boolean[] = [];
    kubectl = (_args, q) => (quiet.push(q), { status: 0 });
    assert.equal(
      await run(['dimuon:3f2a1bc', '--config', path.join(dir, 'experiment.yaml'), '--out', dir, '--apply', '--json']),
      0,
      streams.stderr.join('\n'),
    );
    assert.deepEqual(
      streams.stdout.map((l) => JSON.parse(l) as unknown),
      [
        {
          file: path.join(dir, 'dimuon-3f2a1bc.k8s.yaml'),
          name: 'dimuon-3f2a1bc',
          image: PINNED,
          kinds: ['ConfigMap', 'Job'],
          applied: true,
        },
      ],
    );
    assert.deepEqual(quiet, [true]);
  });

  it('--json says a refusal as {"error"} on stdout too, with exit 1', async () => {
    assert.equal(await run(['nothere:1', '--out', dir, '--json']), 1);
    const sentence = 'No image nothere:1 in this engine: build it first (mlc build), or name one from mlc ls.';
    assert.deepEqual(streams.stderr, [sentence]);
    assert.deepEqual(
      streams.stdout.map((l) => JSON.parse(l) as unknown),
      [{ error: sentence }],
    );
  });

  it('--apply runs kubectl apply -f on the file, and reports kubectl missing or failing', async () => {
    const file = path.join(dir, 'dimuon-3f2a1bc.k8s.yaml');
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir, '--apply']), 0);
    assert.deepEqual(kubectlCalls, [['apply', '-f', file]]);

    kubectl = () => undefined;
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir, '--apply']), 1);
    assert.match(streams.stderr.join('\n'), /kubectl is not installed here: .*kubectl apply -f dimuon-3f2a1bc\.k8s\.yaml/);

    kubectl = () => ({ status: 1 });
    streams.stderr.length = 0;
    assert.equal(await run(['dimuon:3f2a1bc', '--out', dir, '--apply', '--kubeflow', '--workers', '2', '--force']), 1);
    assert.match(streams.stderr.join('\n'), /kubectl apply failed \(exit 1.*Kubeflow training operator.*The manifest stays at/);
  });

  it('rejects bad counts and --workers without --kubeflow as usage errors', async () => {
    await assert.rejects(run(['dimuon:3f2a1bc', '--gpus=-1']), UsageError);
    await assert.rejects(run(['dimuon:3f2a1bc', '--gpus', 'two']), /--gpus takes a whole number/);
    await assert.rejects(run(['dimuon:3f2a1bc', '--kubeflow', '--workers', '0']), /--workers takes a whole number from 1/);
    await assert.rejects(run(['dimuon:3f2a1bc', '--workers', '2']), /--workers is for --kubeflow/);
    await assert.rejects(run(['dimuon:3f2a1bc', '--config', path.join(dir, 'missing.yaml')]), /cannot read --config .*ENOENT/);
    assert.deepEqual(engine.calls, [], 'input is checked before the engine is asked');
  });

  it('is reached as `mlc export k8s`, and `mlc export --help` describes both formats', async () => {
    const out: string[] = [];
    const io: CliIO = { out: (l) => out.push(l), err: (l) => out.push(l), env: {} };
    assert.equal(await runCli(['export', '--help'], io, new AbortController().signal), 0);
    assert.match(out.join('\n'), /mlc export apptainer IMAGE[\s\S]*mlc export k8s IMAGE/);
    out.length = 0;
    assert.equal(await runCli(['export', 'k8s', 'dimuon:3f2a1bc', '--gpus', 'x'], io, new AbortController().signal), 2);
    assert.match(out.join('\n'), /^mlc export: --gpus takes a whole number/);
  });
});
