import * as assert from 'node:assert/strict';
import * as yaml from 'yaml';
import type { K8sExportInput } from '../../../../src/core/export/kubernetes';
import { K8sExportError, k8sManifests, toYaml } from '../../../../src/core/export/kubernetes';

// No installed package ships JobSet or TrainJob schemas (kubernetes-models has the core and batch APIs only), so the
// CRD fields the projects document are checked one by one here, and the parts that are core types (a Job template,
// volumes, mounts, variables, resources) against the Kubernetes schemas.
type Validating = new (data: never) => { validate(): void };
let JobTemplateSpec: Validating;
let Volume: Validating;
let VolumeMount: Validating;
let EnvVar: Validating;
let ResourceRequirements: Validating;

const SHA = '3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8';
const DIGEST = `sha256:${'ab12'.repeat(16)}`;
const PINNED = `ghcr.io/lab/dimuon@${DIGEST}`;
const labels = { 'org.opencontainers.image.revision': SHA, 'org.mlcontainers.dirty': 'false' };
const CONFIG_ENV = { name: 'MLC_CONFIG', value: '/etc/mlc/config/experiment.yaml' };
const CONFIG_MOUNT = { name: 'config', mountPath: '/etc/mlc/config', readOnly: true };
const CONFIG_VOLUME = { name: 'config', configMap: { name: 'dimuon-3f2a1bc-config' } };
const QUEUE = 'kueue.x-k8s.io/queue-name';

function input(over: Partial<K8sExportInput> = {}): K8sExportInput {
  return {
    imageRef: 'dimuon:3f2a1bc',
    pinnedRef: PINNED,
    labels,
    config: { fileName: 'configs/experiment.yaml', content: 'lr: 0.001\n' },
    ...over,
  };
}

/* eslint-disable @typescript-eslint/no-explicit-any -- CRDs read back from YAML, checked field by field */
function roundTrip(i: K8sExportInput): any[] {
  return yaml.parseAllDocuments(toYaml(k8sManifests(i).objects), { version: '1.1' }).map((d) => d.toJS());
}

describe('Kubernetes manifests: TrainJob, JobSet and Kueue (mlc export k8s --kind, --nodes, --queue)', () => {
  before(async () => {
    ({ JobTemplateSpec } = await import('kubernetes-models/batch/v1/JobTemplateSpec'));
    ({ Volume } = await import('kubernetes-models/v1/Volume'));
    ({ VolumeMount } = await import('kubernetes-models/v1/VolumeMount'));
    ({ EnvVar } = await import('kubernetes-models/v1/EnvVar'));
    ({ ResourceRequirements } = await import('kubernetes-models/v1/ResourceRequirements'));
  });

  it('writes a trainer.kubeflow.org/v1alpha1 TrainJob: runtimeRef, numNodes, the image by digest, GPUs per node, env', () => {
    const objects = roundTrip(
      input({ kind: 'trainjob', nodes: 4, gpus: 8, args: ['train.py', '--epochs', '3'], env: [{ name: 'HF_TOKEN' }] }),
    );
    assert.deepEqual(
      objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`),
      ['v1 ConfigMap dimuon-3f2a1bc-config', 'trainer.kubeflow.org/v1alpha1 TrainJob dimuon-3f2a1bc'],
    );
    const tj = objects[1];
    assert.deepEqual(tj.spec.runtimeRef, { name: 'torch-distributed', apiGroup: 'trainer.kubeflow.org', kind: 'ClusterTrainingRuntime' });
    const t = tj.spec.trainer;
    assert.equal(t.image, PINNED);
    assert.equal(t.numNodes, 4);
    assert.deepEqual(t.args, ['train.py', '--epochs', '3']);
    assert.equal(t.command, undefined, 'the runtime keeps its command (torchrun)');
    assert.deepEqual(t.resourcesPerNode, { limits: { 'nvidia.com/gpu': 8 } });
    assert.deepEqual(t.env, [
      { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'dimuon-3f2a1bc-env', key: 'HF_TOKEN' } } },
      CONFIG_ENV,
    ]);
    new ResourceRequirements(t.resourcesPerNode as never).validate();
    for (const e of t.env) new EnvVar(e as never).validate();
    assert.equal(tj.metadata.labels['mlcontainers.org/revision'], SHA);
    assert.equal(tj.metadata.labels[QUEUE], undefined);
  });

  it('mounts the config and /dev/shm, and labels the pods, through runtimePatches on the runtime’s `node` job and container', () => {
    const tj = roundTrip(input({ kind: 'trainjob', capAdd: ['SYS_PTRACE'] }))[1];
    assert.equal(tj.spec.labels, undefined, 'Trainer v2.2 has no spec.labels');
    const [patch, ...others] = tj.spec.runtimePatches;
    assert.equal(others.length, 0);
    assert.match(patch.manager, /^[a-z0-9.-]+\/[a-z]+$/, 'a domain-prefixed path');
    const template = patch.trainingRuntimeSpec.template;
    assert.equal(template.metadata.labels['mlcontainers.org/revision'], SHA);
    const [job, ...otherJobs] = template.spec.replicatedJobs;
    assert.equal(otherJobs.length, 0);
    assert.equal(job.name, 'node');
    const pod = job.template.spec.template;
    assert.equal(pod.metadata.labels['mlcontainers.org/revision'], SHA);
    assert.deepEqual(pod.spec.volumes, [{ name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '8Gi' } }, CONFIG_VOLUME]);
    assert.deepEqual(pod.spec.containers, [
      {
        name: 'node',
        volumeMounts: [{ name: 'dshm', mountPath: '/dev/shm' }, CONFIG_MOUNT],
        securityContext: { capabilities: { add: ['SYS_PTRACE'] } },
      },
    ]);
    assert.equal(pod.spec.containers[0].env, undefined, 'the Trainer refuses env patched into `node`');
    for (const v of pod.spec.volumes) new Volume(v as never).validate();
    for (const m of pod.spec.containers[0].volumeMounts) new VolumeMount(m as never).validate();
    assert.ok(tj.spec.trainer.env.some((e: { name: string }) => e.name === 'MLC_CONFIG'));
  });

  it('a TrainJob on CPU asks for no GPU and hides them; --runtime names another ClusterTrainingRuntime', () => {
    const t = roundTrip(input({ kind: 'trainjob', gpus: 0, runtime: 'deepspeed-distributed', config: undefined }))[0];
    assert.equal(t.spec.runtimeRef.name, 'deepspeed-distributed');
    assert.equal(t.spec.trainer.resourcesPerNode, undefined);
    assert.equal(t.spec.trainer.numNodes, 1);
    assert.deepEqual(t.spec.trainer.env, [{ name: 'NVIDIA_VISIBLE_DEVICES', value: 'void' }]);
  });

  it('refuses a runtime name Kubernetes would refuse', () => {
    assert.throws(() => k8sManifests(input({ kind: 'trainjob', runtime: 'Torch_Distributed' })), K8sExportError);
  });

  it('writes a jobset.x-k8s.io/v1alpha2 JobSet: a leader of one pod and N-1 workers, each a valid batch Job template', () => {
    const objects = roundTrip(input({ kind: 'jobset', nodes: 3, gpus: 2, args: ['torchrun', 'train.py'], capAdd: ['IPC_LOCK'] }));
    assert.deepEqual(
      objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`),
      ['v1 ConfigMap dimuon-3f2a1bc-config', 'jobset.x-k8s.io/v1alpha2 JobSet dimuon-3f2a1bc'],
    );
    const js = objects[1];
    assert.deepEqual(js.spec.network, { enableDNSHostnames: true });
    assert.deepEqual(js.spec.failurePolicy, { maxRestarts: 3 });
    assert.deepEqual(
      js.spec.replicatedJobs.map((r: { name: string; replicas: number }) => `${r.name} ${r.replicas}`),
      ['leader 1', 'workers 2'],
    );
    for (const r of js.spec.replicatedJobs) {
      new JobTemplateSpec(r.template as never).validate();
      const job = r.template.spec;
      assert.equal(job.parallelism, 1);
      assert.equal(job.completions, 1);
      assert.equal(job.backoffLimit, 0);
      assert.deepEqual(job.podFailurePolicy.rules, [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] }]);
      const pod = job.template;
      assert.equal(pod.spec.restartPolicy, 'Never');
      assert.equal(pod.metadata.labels['mlcontainers.org/revision'], SHA);
      assert.deepEqual(
        pod.spec.volumes.map((v: { name: string }) => v.name),
        ['dshm', 'config'],
      );
      assert.deepEqual(pod.spec.volumes[1], CONFIG_VOLUME);
      const [c, ...others] = pod.spec.containers;
      assert.equal(others.length, 0);
      assert.equal(c.image, PINNED);
      assert.deepEqual(c.args, ['torchrun', 'train.py']);
      assert.deepEqual(c.resources, { limits: { 'nvidia.com/gpu': 2 } });
      assert.deepEqual(c.securityContext, { capabilities: { add: ['IPC_LOCK'] } });
      assert.deepEqual(c.volumeMounts[1], CONFIG_MOUNT);
      assert.deepEqual(c.env, [
        CONFIG_ENV,
        { name: 'MASTER_ADDR', value: 'dimuon-3f2a1bc-leader-0-0.dimuon-3f2a1bc' },
        { name: 'MASTER_PORT', value: '29500' },
        { name: 'NNODES', value: '3' },
      ]);
    }
  });

  it('a JobSet of one node is its leader alone', () => {
    const js = roundTrip(input({ kind: 'jobset', config: undefined }))[0];
    assert.deepEqual(
      js.spec.replicatedJobs.map((r: { name: string }) => r.name),
      ['leader'],
    );
  });

  it('--queue labels the top-level object of every kind for Kueue, and nothing else', () => {
    for (const [kind, top] of [
      ['job', 'Job'],
      ['pytorchjob', 'PyTorchJob'],
      ['trainjob', 'TrainJob'],
      ['jobset', 'JobSet'],
    ] as const) {
      const objects = roundTrip(input({ kind, queue: 'team-a', ...(kind === 'pytorchjob' ? { nodes: 2 } : {}) }));
      const text = toYaml(k8sManifests(input({ kind, queue: 'team-a' })).objects);
      assert.equal(text.split(QUEUE).length - 1, 1, `${kind}: the label once`);
      const o = objects.find((x) => x.kind === top);
      assert.equal(o.metadata.labels[QUEUE], 'team-a', kind);
      assert.equal(objects.find((x) => x.kind === 'ConfigMap').metadata.labels[QUEUE], undefined);
    }
    assert.throws(() => k8sManifests(input({ queue: 'team a/b' })), /not a Kueue LocalQueue name/);
  });

  it('--nodes sets a PyTorchJob’s Workers to N-1 and keeps kubeflow.workers as it was', () => {
    const pj = (i: Partial<K8sExportInput>): any => roundTrip(input({ config: undefined, ...i }))[0].spec.pytorchReplicaSpecs;
    assert.deepEqual([pj({ kind: 'pytorchjob', nodes: 5 }).Master.replicas, pj({ kind: 'pytorchjob', nodes: 5 }).Worker.replicas], [1, 4]);
    assert.equal(pj({ kubeflow: { workers: 2 } }).Worker.replicas, 2);
    assert.equal(pj({ kind: 'pytorchjob' }).Worker.replicas, 1);
  });

  it('refuses node counts a kind cannot run: a Job of several pods, a PyTorchJob without a Worker, zero nodes', () => {
    assert.throws(() => k8sManifests(input({ nodes: 2 })), /batch Job runs one pod.*--kind jobset/);
    assert.throws(() => k8sManifests(input({ kind: 'pytorchjob', nodes: 1 })), /--nodes must be 2 or more/);
    assert.throws(() => k8sManifests(input({ kind: 'jobset', nodes: 0 })), /--nodes must be a whole number from 1/);
  });

  it('leaves room in the name for the hostnames JobSet and the Trainer derive from it', () => {
    const long = `ghcr.io/lab/${'y'.repeat(70)}@${DIGEST}`;
    const js = k8sManifests(input({ pinnedRef: long, kind: 'jobset', nodes: 12 })).name;
    assert.ok(`${js}-workers-10-0`.length <= 63, js);
    const tj = k8sManifests(input({ pinnedRef: long, kind: 'trainjob', nodes: 12 })).name;
    assert.ok(`${tj}-node-0-11`.length <= 63, tj);
    assert.match(tj, /^y+-3f2a1bc$/);
  });
});
