import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'yaml';
import type { ExportK8sDeps } from '../../../src/cli/exportK8s';
import { exportK8s, exportK8sHelp } from '../../../src/cli/exportK8s';
import { UsageError } from '../../../src/cli/io';
import { recordingIO } from '../../helpers/cli';
import { imageDetails } from '../../helpers/images';
import { FakeEngine } from '../fakes/engine';

// The flags of `mlc export k8s` that pick the kind, the node count and the Kueue queue; the manifests themselves are
// tested in test/unit/core/export/kubernetesTraining.test.ts.
const SHA = '3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8';
const PINNED = `ghcr.io/lab/dimuon@sha256:${'ab12'.repeat(16)}`;

describe('mlc export k8s --kind, --nodes, --queue, --runtime (fake engine)', () => {
  let dir: string;
  let engine: FakeEngine;
  let streams: ReturnType<typeof recordingIO>;

  const deps = (): ExportK8sDeps => ({ engine: () => engine, kubectl: () => ({ status: 0 }), pushRecord: path.join(dir, 'pushed.jsonl') });
  const run = (args: string[]): Promise<number> => exportK8s(args, streams, new AbortController().signal, deps());
  /* eslint-disable-next-line @typescript-eslint/no-explicit-any -- CRDs read back from YAML */
  const written = (): any[] =>
    yaml.parseAllDocuments(fs.readFileSync(path.join(dir, 'dimuon-3f2a1bc.k8s.yaml'), 'utf8')).map((d) => d.toJS());

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-k8s-'));
    engine = new FakeEngine();
    engine.images.set(
      'dimuon:3f2a1bc',
      imageDetails({
        id: `sha256:${'27f5'.repeat(16)}`,
        repoTags: ['dimuon:3f2a1bc'],
        repoDigests: [PINNED],
        created: '',
        labels: { 'org.opencontainers.image.revision': SHA, 'org.mlcontainers.dirty': 'false' },
      }),
    );
    streams = recordingIO();
  });

  it('--kind trainjob --nodes 4 --queue team-a --runtime writes a TrainJob on that runtime, queued for Kueue', async () => {
    const args = ['dimuon:3f2a1bc', '--kind', 'trainjob', '--nodes', '4', '--queue', 'team-a', '--runtime', 'torch-nccl'];
    assert.equal(await run([...args, '--dir', dir, '--out', dir]), 0, streams.stderr.join('\n'));
    const [tj] = written();
    assert.equal(tj.kind, 'TrainJob');
    assert.equal(tj.spec.trainer.numNodes, 4);
    assert.equal(tj.spec.runtimeRef.name, 'torch-nccl');
    assert.equal(tj.metadata.labels['kueue.x-k8s.io/queue-name'], 'team-a');
  });

  it('--kind jobset --nodes 3 writes a JobSet of a leader and 2 workers', async () => {
    assert.equal(await run(['dimuon:3f2a1bc', '--kind', 'jobset', '--nodes', '3', '--dir', dir, '--out', dir]), 0);
    const [js] = written();
    assert.equal(js.kind, 'JobSet');
    assert.deepEqual(
      js.spec.replicatedJobs.map((r: { name: string; replicas: number }) => [r.name, r.replicas]),
      [
        ['leader', 1],
        ['workers', 2],
      ],
    );
  });

  it('--kubeflow --workers 2 and --kind pytorchjob --nodes 3 write the same PyTorchJob; without --kind, a Job', async () => {
    assert.equal(await run(['dimuon:3f2a1bc', '--kubeflow', '--workers', '2', '--dir', dir, '--out', dir]), 0);
    const kubeflow = written();
    assert.equal(await run(['dimuon:3f2a1bc', '--kind', 'pytorchjob', '--nodes', '3', '--dir', dir, '--out', dir]), 0);
    assert.deepEqual(written(), kubeflow);
    assert.equal(kubeflow[0].spec.pytorchReplicaSpecs.Worker.replicas, 2);
    assert.equal(await run(['dimuon:3f2a1bc', '--kubeflow', '--workers', '2', '--nodes', '3', '--dir', dir, '--out', dir, '--force']), 0);
    fs.rmSync(path.join(dir, 'dimuon-3f2a1bc.k8s.yaml'));
    assert.equal(await run(['dimuon:3f2a1bc', '--dir', dir, '--out', dir]), 0);
    assert.equal(written()[0].kind, 'Job');
  });

  it('says in one sentence what does not go together, before asking the engine', async () => {
    await assert.rejects(run(['dimuon:3f2a1bc', '--kind', 'deployment']), /^UsageError: --kind takes job, pytorchjob, trainjob, jobset/);
    await assert.rejects(
      run(['dimuon:3f2a1bc', '--kubeflow', '--workers', '2', '--nodes', '4']),
      (e: Error) => e instanceof UsageError && /--nodes 4 and --workers 2 disagree/.test(e.message),
    );
    await assert.rejects(run(['dimuon:3f2a1bc', '--kubeflow', '--kind', 'jobset']), /--kubeflow makes a PyTorchJob/);
    await assert.rejects(run(['dimuon:3f2a1bc', '--kind', 'jobset', '--workers', '2']), /--workers is for --kubeflow/);
    await assert.rejects(run(['dimuon:3f2a1bc', '--runtime', 'torch-distributed']), /goes with --kind trainjob/);
    await assert.rejects(run(['dimuon:3f2a1bc', '--kind', 'jobset', '--nodes', '0']), /--nodes takes a whole number from 1/);
    assert.deepEqual(engine.calls, []);
  });

  it('the help names the new flags', () => {
    for (const flag of ['--kind KIND', '--nodes N', '--queue NAME', '--runtime NAME']) assert.ok(exportK8sHelp.includes(flag), flag);
  });
});
