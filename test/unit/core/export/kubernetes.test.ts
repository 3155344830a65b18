import * as assert from 'node:assert/strict';
import * as yaml from 'yaml';
import type { K8sExportInput } from '../../../../src/core/export/kubernetes';
import {
  K8sExportError,
  k8sManifests,
  manifestFileName,
  pinnedReference,
  resourceName,
  toYaml,
} from '../../../../src/core/export/kubernetes';

// kubernetes-models validates against JSON schemas generated from the Kubernetes OpenAPI spec (no cluster needed:
// `kubectl apply --dry-run=client` needs an API server). It is ESM-only, so it is imported, not required.
type Validating = new (data: never) => { validate(): void };
let Job: Validating;
let ConfigMap: Validating;
let PodTemplateSpec: Validating;

const SHA = '3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8';
const DIGEST = `sha256:${'ab12'.repeat(16)}`;
const PINNED = `ghcr.io/lab/dimuon@${DIGEST}`;
const labels = {
  'org.opencontainers.image.revision': SHA,
  'org.opencontainers.image.source': 'https://example.org/lab/dimuon.git',
  'org.mlcontainers.preset': 'pytorch',
  'org.mlcontainers.dirty': 'false',
  'org.mlcontainers.config.path': 'configs/experiment.yaml',
  maintainer: 'someone else',
};
const CONFIG = 'lr: 0.001\nepochs: 10\n# a line with trailing spaces   \n---\noptimizer: on\n\tindented: with a tab\n';

function input(over: Partial<K8sExportInput> = {}): K8sExportInput {
  return {
    imageRef: 'dimuon:3f2a1bc',
    pinnedRef: PINNED,
    labels,
    config: { fileName: 'configs/experiment.yaml', content: CONFIG },
    ...over,
  };
}

// What the tests read of the objects; the schemas check the rest.
interface Meta {
  name?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value: string }[];
  resources?: { limits: Record<string, number | string> };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodTemplate {
  metadata: Meta;
  spec: { restartPolicy?: string; containers: Container[]; volumes: { name: string }[] };
}
interface Replica {
  replicas: number;
  restartPolicy: string;
  template: PodTemplate;
}
interface Doc {
  apiVersion: string;
  kind: string;
  metadata: Meta & { name: string };
  data?: Record<string, string>;
  spec: {
    backoffLimit?: unknown;
    podFailurePolicy?: { rules: unknown[] };
    template: PodTemplate;
    runPolicy?: unknown;
    pytorchReplicaSpecs: Record<string, Replica>;
  };
}

/** The objects as kubectl would read them back from the file (YAML 1.1, one document each). */
function roundTrip(i: K8sExportInput): Doc[] {
  return yaml.parseAllDocuments(toYaml(k8sManifests(i).objects), { version: '1.1' }).map((d) => d.toJS() as Doc);
}

function only(objects: Doc[], kind: string): Doc {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
}

/** Validates every object against the Kubernetes schemas; a PyTorchJob (a CRD, no schema) replica by replica. */
function validateAll(objects: Doc[]): void {
  for (const o of objects) {
    if (o.kind === 'Job') new Job(o as never).validate();
    else if (o.kind === 'ConfigMap') new ConfigMap(o as never).validate();
    else if (o.kind === 'PyTorchJob')
      for (const r of Object.values(o.spec.pytorchReplicaSpecs)) new PodTemplateSpec(r.template as never).validate();
    else assert.fail(`unexpected kind ${o.kind}`);
  }
}

const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

describe('Kubernetes manifests (mlc export k8s)', () => {
  before(async () => {
    ({ Job } = await import('kubernetes-models/batch/v1/Job'));
    ({ ConfigMap } = await import('kubernetes-models/v1/ConfigMap'));
    ({ PodTemplateSpec } = await import('kubernetes-models/v1/PodTemplateSpec'));
  });

  it('writes a ConfigMap then a batch/v1 Job that validate against the Kubernetes schemas', () => {
    const objects = roundTrip(input());
    assert.deepEqual(
      objects.map((o) => `${String(o.apiVersion)} ${String(o.kind)} ${String(o.metadata.name)}`),
      ['v1 ConfigMap dimuon-3f2a1bc-config', 'batch/v1 Job dimuon-3f2a1bc'],
    );
    validateAll(objects);
  });

  it('runs the image by digest, once, with one GPU, /dev/shm in memory and the image CMD', () => {
    const job = only(roundTrip(input()), 'Job');
    assert.equal(job.spec.backoffLimit, 0);
    assert.deepEqual(job.spec.podFailurePolicy?.rules, [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] }]);
    const pod = job.spec.template.spec;
    assert.equal(pod.restartPolicy, 'Never');
    const [c] = pod.containers;
    assert.equal(c.image, PINNED);
    assert.deepEqual(c.resources, { limits: { 'nvidia.com/gpu': 1 } });
    assert.ok(!('args' in c) && !('command' in c), "no args: the image's CMD runs");
    assert.deepEqual(
      pod.volumes.find((v) => v.name === 'dshm'),
      { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '8Gi' } },
    );
    assert.deepEqual(
      c.volumeMounts.find((m) => m.name === 'dshm'),
      { name: 'dshm', mountPath: '/dev/shm' },
    );
  });

  it('mounts the config read-only and points MLC_CONFIG at it; the file survives the YAML round trip byte for byte', () => {
    const [cm, job] = roundTrip(input());
    assert.deepEqual(cm!.data, { 'experiment.yaml': CONFIG });
    const pod = job!.spec.template.spec;
    assert.deepEqual(
      pod.volumes.find((v) => v.name === 'config'),
      { name: 'config', configMap: { name: 'dimuon-3f2a1bc-config' } },
    );
    assert.deepEqual(
      pod.containers[0].volumeMounts.find((m) => m.name === 'config'),
      { name: 'config', mountPath: '/etc/mlc/config', readOnly: true },
    );
    assert.deepEqual(pod.containers[0].env, [{ name: 'MLC_CONFIG', value: '/etc/mlc/config/experiment.yaml' }]);
  });

  it('without a config: no ConfigMap, no config volume, no MLC_CONFIG', () => {
    const objects = roundTrip(input({ config: undefined }));
    assert.deepEqual(
      objects.map((o) => o.kind),
      ['Job'],
    );
    const pod = objects[0]!.spec.template.spec;
    assert.deepEqual(
      pod.volumes.map((v) => v.name),
      ['dshm'],
    );
    assert.ok(!('env' in pod.containers[0]));
    validateAll(objects);
  });

  it('--gpus 0 asks for no nvidia.com/gpu (CPU nodes); --gpus 4 for four; the command after -- replaces CMD, not ENTRYPOINT', () => {
    const cpu = only(roundTrip(input({ gpus: 0 })), 'Job');
    assert.ok(!('resources' in cpu.spec.template.spec.containers[0]));
    assert.deepEqual(
      cpu.spec.template.spec.containers[0].env?.filter((e) => e.name.startsWith('NVIDIA')),
      [{ name: 'NVIDIA_VISIBLE_DEVICES', value: 'void' }],
      'CPU means CPU, whatever the image sets',
    );
    validateAll([cpu]);
    const four = only(roundTrip(input({ gpus: 4, args: ['python', 'train.py', '--lr', '0.01'] })), 'Job');
    const c = four.spec.template.spec.containers[0];
    assert.deepEqual(c.resources?.limits, { 'nvidia.com/gpu': 4 });
    assert.ok(!c.env?.some((e) => e.name.startsWith('NVIDIA')), 'the device plugin sets NVIDIA_VISIBLE_DEVICES for GPU pods');
    assert.deepEqual(c.args, ['python', 'train.py', '--lr', '0.01']);
    assert.ok(!('command' in c), 'the ENTRYPOINT (a release setup, say) still runs');
  });

  it('labels every object with the image name and the full commit, and carries our and the OCI labels as annotations', () => {
    for (const o of roundTrip(input())) {
      const metas = o.kind === 'Job' ? [o.metadata, o.spec.template.metadata] : [o.metadata];
      for (const m of metas) {
        assert.deepEqual(m.labels, {
          'app.kubernetes.io/name': 'dimuon',
          'mlcontainers.org/revision': SHA,
          'mlcontainers.org/dirty': 'false',
          'mlcontainers.org/preset': 'pytorch',
        });
        assert.equal(m.annotations['org.opencontainers.image.revision'], SHA);
        assert.equal(m.annotations['org.opencontainers.image.source'], 'https://example.org/lab/dimuon.git');
        assert.equal(m.annotations['org.mlcontainers.config.path'], 'configs/experiment.yaml');
        assert.equal(m.annotations['mlcontainers.org/image'], 'dimuon:3f2a1bc');
        assert.ok(!('maintainer' in m.annotations));
      }
    }
  });

  it('keeps a label value Kubernetes would refuse (a 64-character SHA-256 commit) to the annotations', () => {
    const sha256 = 'e'.repeat(64);
    const [job] = roundTrip(input({ config: undefined, labels: { ...labels, 'org.opencontainers.image.revision': sha256 } }));
    assert.ok(!('mlcontainers.org/revision' in job!.metadata.labels));
    assert.equal(job!.metadata.annotations['org.opencontainers.image.revision'], sha256);
    assert.equal(job!.metadata.name, 'dimuon-eeeeeee');
    validateAll([job!]);
  });

  it('keeps a label value, an annotation key or a variable with newlines inside its string: no new document or field', () => {
    const hostile = '1\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: x}\n';
    const i = input({
      labels: {
        ...labels,
        'org.opencontainers.image.title': hostile,
        'org.mlcontainers.preset': hostile,
        'org.mlcontainers.x\nkind: Pod': 'y',
      },
      env: [{ name: 'NOTE', value: hostile }],
      args: [hostile],
    });
    const objects = roundTrip(i);
    assert.deepEqual(
      objects.map((o) => o.kind),
      ['ConfigMap', 'Job'],
    );
    const job = only(objects, 'Job');
    assert.equal(job.metadata.annotations['org.opencontainers.image.title'], hostile);
    assert.ok(!('mlcontainers.org/preset' in job.metadata.labels), 'not a label value Kubernetes takes');
    assert.ok(!Object.keys(job.metadata.annotations).some((k) => k.includes('\n')), 'a key that is no qualified name is left out');
    const [container] = job.spec.template.spec.containers;
    assert.equal(container!.env!.find((e) => e.name === 'NOTE')!.value, hostile);
    assert.deepEqual(container!.args, [hostile]);
  });

  it('quotes strings a YAML 1.1 reader such as kubectl would take for booleans or numbers', () => {
    const text = toYaml(
      k8sManifests(
        input({
          config: undefined,
          labels: { ...labels, 'org.mlcontainers.preset': 'on', 'org.opencontainers.image.revision': '1234567000' },
        }),
      ).objects,
    );
    const [job] = roundTrip(
      input({
        config: undefined,
        labels: { ...labels, 'org.mlcontainers.preset': 'on', 'org.opencontainers.image.revision': '1234567000' },
      }),
    );
    assert.match(text, /mlcontainers\.org\/preset: "on"/);
    assert.doesNotMatch(
      toYaml(k8sManifests(input({ kubeflow: { workers: 2 } })).objects),
      /[&*]a\d/,
      'no YAML anchors for the labels and volumes objects share',
    );
    assert.equal(job!.metadata.labels['mlcontainers.org/preset'], 'on');
    assert.equal(job!.metadata.labels['mlcontainers.org/revision'], '1234567000');
    validateAll([job!]);
  });

  it('names objects <image>-<sha7>: DNS-1035 labels of at most 63 characters, whatever the image is called', () => {
    const long = `registry.example.org:5000/Lab/My_Very.Long--Experiment_${'x'.repeat(80)}@${DIGEST}`;
    const cases: [string, Record<string, string>, string][] = [
      [PINNED, labels, 'dimuon-3f2a1bc'],
      [PINNED, { ...labels, 'org.mlcontainers.dirty': 'true' }, 'dimuon-3f2a1bc-dirty'],
      [PINNED, {}, 'dimuon-ab12ab1'],
      [`docker.io/lab/3d-unet@${DIGEST}`, labels, 'mlc-3d-unet-3f2a1bc'],
      [`localhost:5000/__@${DIGEST}`, labels, 'mlc-3f2a1bc'],
    ];
    for (const [ref, l, want] of cases) assert.equal(resourceName(ref, l), want);
    const name = resourceName(long, labels);
    assert.ok(name.length <= 63 && DNS_1035.test(name), name);
    assert.match(name, /^my-very-long-experiment-x+-3f2a1bc$/);
    const objects = roundTrip(input({ pinnedRef: long }));
    validateAll(objects);
    for (const o of objects) assert.match(String(o.metadata.name), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.equal(manifestFileName(k8sManifests(input())), 'dimuon-3f2a1bc.k8s.yaml');
  });

  it('writes a kubeflow.org/v1 PyTorchJob: one Master, N Workers, container "pytorch", the same GPUs and volumes', () => {
    const objects = roundTrip(input({ kubeflow: { workers: 3 }, gpus: 2, args: ['torchrun', 'train.py'] }));
    assert.deepEqual(
      objects.map((o) => o.kind),
      ['ConfigMap', 'PyTorchJob'],
    );
    const pj = objects[1]!;
    assert.equal(pj.apiVersion, 'kubeflow.org/v1');
    assert.equal(pj.metadata.name, 'dimuon-3f2a1bc');
    assert.deepEqual(pj.spec.runPolicy, { backoffLimit: 3 });
    const specs = pj.spec.pytorchReplicaSpecs;
    assert.deepEqual(Object.keys(specs), ['Master', 'Worker']);
    assert.equal(specs.Master.replicas, 1);
    assert.equal(specs.Worker.replicas, 3);
    for (const r of Object.values(specs)) {
      assert.equal(r.restartPolicy, 'OnFailure');
      const [c, ...others] = r.template.spec.containers;
      assert.equal(others.length, 0);
      assert.equal(c.name, 'pytorch', 'the training operator finds the container by this name');
      assert.equal(c.image, PINNED);
      assert.deepEqual(c.args, ['torchrun', 'train.py']);
      assert.deepEqual(c.resources?.limits, { 'nvidia.com/gpu': 2 });
      assert.deepEqual(c.env, [{ name: 'MLC_CONFIG', value: '/etc/mlc/config/experiment.yaml' }]);
      assert.deepEqual(r.template.spec.volumes.map((v) => v.name).sort(), ['config', 'dshm']);
      assert.equal(r.template.metadata.labels['mlcontainers.org/revision'], SHA);
    }
    validateAll(objects);
  });

  it('leaves room in a PyTorchJob name for the services the operator derives from it (<name>-worker-<i>)', () => {
    const long = `ghcr.io/lab/${'y'.repeat(70)}@${DIGEST}`;
    const { name } = k8sManifests(input({ pinnedRef: long, kubeflow: { workers: 12 } }));
    assert.ok(`${name}-worker-11`.length <= 63, name);
    assert.match(name, /^y+-3f2a1bc$/);
  });

  it('the schema check is real: it rejects a typo in restartPolicy, a malformed GPU quantity, a container without a name', () => {
    const job = roundTrip(input({ config: undefined }))[0]!;
    const broken = (mutate: (j: Doc) => void): Doc => {
      const copy = structuredClone(job);
      mutate(copy);
      return copy;
    };
    assert.throws(() => validateAll([broken((j) => (j.spec.template.spec.restartPolicy = 'never'))]), /restartPolicy/);
    assert.throws(
      () => validateAll([broken((j) => (j.spec.template.spec.containers[0]!.resources!.limits['nvidia.com/gpu'] = 'one'))]),
      /nvidia\.com~1gpu/,
    );
    assert.throws(() => validateAll([broken((j) => Reflect.deleteProperty(j.spec.template.spec.containers[0]!, 'name'))]), /name/);
    assert.throws(() => validateAll([broken((j) => (j.spec.backoffLimit = '0'))]), /backoffLimit/);
    // The OpenAPI schemas do not check name formats or signs of quantities: those are ours, checked here and above.
    assert.throws(() => k8sManifests(input({ gpus: -1 })), K8sExportError);
    assert.throws(() => k8sManifests(input({ gpus: 1.5 })), /whole number/);
  });

  it('refuses a reference not pinned by digest, zero workers and a config too large for a ConfigMap', () => {
    assert.throws(() => k8sManifests(input({ pinnedRef: 'ghcr.io/lab/dimuon:3f2a1bc' })), /not pinned by digest/);
    assert.throws(() => k8sManifests(input({ kubeflow: { workers: 0 } })), /--workers must be 1 or more/);
    assert.throws(
      () => k8sManifests(input({ config: { fileName: 'big.yaml', content: 'x'.repeat(1024 * 1024 + 1) } })),
      /larger than a ConfigMap holds/,
    );
  });

  it('makes a valid ConfigMap key of an odd file name', () => {
    const [cm, job] = roundTrip(input({ config: { fileName: 'C:\\runs\\my config (v2).yaml', content: 'a: 1\n' } }));
    assert.deepEqual(Object.keys(cm!.data ?? {}), ['my_config_v2_.yaml']);
    assert.equal(job!.spec.template.spec.containers[0].env?.[0]?.value, '/etc/mlc/config/my_config_v2_.yaml');
    validateAll([cm!, job!]);
  });
});

describe('Pinning the image by digest', () => {
  const d = (repo: string): string => `${repo}@${DIGEST}`;

  it('refuses an image that exists only on this machine, and says to push it', () => {
    assert.throws(
      () => pinnedReference('dimuon:3f2a1bc', []),
      (e: Error) =>
        e instanceof K8sExportError &&
        /exists only on this machine/.test(e.message) &&
        /mlc push dimuon:3f2a1bc --registry REGISTRY/.test(e.message),
    );
  });

  it('uses the only digest, or the one of the repository the image was named by', () => {
    assert.equal(pinnedReference('dimuon:3f2a1bc', [d('ghcr.io/lab/dimuon')]), d('ghcr.io/lab/dimuon'));
    assert.equal(
      pinnedReference('ghcr.io/lab/dimuon:3f2a1bc', [d('registry.cern.ch/lab/dimuon'), d('ghcr.io/lab/dimuon')]),
      d('ghcr.io/lab/dimuon'),
    );
    assert.equal(pinnedReference('python:3.12', [d('quay.io/x/python'), d('python')]), d('python'), 'python is docker.io/library/python');
  });

  it('picks the digest from --registry, and says when the image was not pushed there', () => {
    const digests = [d('registry.cern.ch/lab/dimuon'), d('ghcr.io/lab/dimuon'), d('labuser/dimuon')];
    assert.equal(pinnedReference('dimuon:3f2a1bc', digests, 'ghcr.io'), d('ghcr.io/lab/dimuon'));
    assert.equal(pinnedReference('dimuon:3f2a1bc', digests, 'https://registry.cern.ch/lab/'), d('registry.cern.ch/lab/dimuon'));
    assert.equal(pinnedReference('dimuon:3f2a1bc', digests, 'docker.io/labuser'), d('labuser/dimuon'));
    assert.equal(pinnedReference('dimuon:3f2a1bc', digests, 'labuser'), d('labuser/dimuon'));
    assert.throws(
      () => pinnedReference('dimuon:3f2a1bc', digests, 'ghcr.io/la'),
      /no digest from ghcr\.io\/la .*mlc push dimuon:3f2a1bc --registry ghcr\.io\/la/,
    );
  });

  it('asks for --registry when the image is in several and none is the one it was named by', () => {
    assert.throws(
      () => pinnedReference('dimuon:3f2a1bc', [d('registry.cern.ch/lab/dimuon'), d('ghcr.io/lab/dimuon')]),
      /several registries .*--registry/,
    );
  });
});
