import * as assert from 'node:assert/strict';
import * as yaml from 'yaml';
import type { KServeExportInput } from '../../../../src/core/export/kserve';
import {
  KSERVE_CONTAINER,
  KServeExportError,
  MAX_SERVICE_NAME,
  defaultServiceName,
  kserveFileName,
  kserveManifest,
  kserveRefusal,
  serviceNameProblem,
} from '../../../../src/core/export/kserve';
import { toYaml } from '../../../../src/core/export/kubernetes';
import { REVISION_LABEL, ROLE_LABEL } from '../../../../src/core/labels';
import { MODEL_LABELS } from '../../../../src/core/model/card';
import { MODEL_ARTIFACT_SHA, MODEL_COMMIT, MODEL_RUN, modelImage, modelImageLabels } from '../../../helpers/modelImage';

// kubernetes-models validates against the Kubernetes OpenAPI schemas. KServe's predictor inlines a core/v1 PodSpec
// (CustomPredictor in kserve/pkg/apis/serving/v1beta1/predictor_custom.go), so the predictor is checked as one.
type Validating = new (data: never) => { validate(): void };
let PodSpec: Validating;

const PINNED = `registry.example.org/lab/digits-model@sha256:${'ab12'.repeat(16)}`;

interface Container {
  name: string;
  image: string;
  command?: unknown;
  args?: unknown;
  ports: { containerPort: number; protocol: string }[];
  env: { name: string; value: string }[];
  readinessProbe: { httpGet: { path: string; port: number } };
  resources?: { limits: Record<string, number> };
}
interface Service {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { predictor: { containers: Container[] } };
}

function input(over: Partial<KServeExportInput> = {}): KServeExportInput {
  return { imageRef: `digits-model:${MODEL_RUN}`, pinnedRef: PINNED, labels: modelImageLabels(), name: 'digits-model', ...over };
}

/** The InferenceService as kubectl reads it back from the file (YAML 1.1): exactly one document. */
function roundTrip(i: KServeExportInput): Service {
  const docs = yaml.parseAllDocuments(toYaml([kserveManifest(i)]), { version: '1.1' });
  assert.equal(docs.length, 1, 'one document');
  return docs[0]!.toJS() as Service;
}

const env = (c: Container): Record<string, string> => Object.fromEntries(c.env.map((e) => [e.name, e.value]));
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('KServe InferenceService (mlc export kserve)', () => {
  before(async () => {
    ({ PodSpec } = await import('kubernetes-models/v1/PodSpec'));
  });

  it('is a serving.kserve.io/v1beta1 InferenceService whose custom predictor is the model pinned by digest, kserve-container on 8080', () => {
    const s = roundTrip(input());
    assert.equal(s.apiVersion, 'serving.kserve.io/v1beta1');
    assert.equal(s.kind, 'InferenceService');
    assert.equal(s.metadata.name, 'digits-model');
    assert.equal(s.spec.predictor.containers.length, 1);
    const c = s.spec.predictor.containers[0]!;
    assert.equal(c.name, KSERVE_CONTAINER);
    assert.equal(c.name, 'kserve-container');
    assert.equal(c.image, PINNED);
    assert.deepEqual(c.ports, [{ containerPort: 8080, protocol: 'TCP' }]);
    assert.equal(c.command, undefined, "the image's CMD runs the server");
    assert.equal(c.args, undefined);
    new PodSpec(s.spec.predictor as never).validate();
    // The schema check is real: a port that is not a number is refused.
    const broken = structuredClone(s.spec.predictor);
    broken.containers[0]!.ports[0]!.containerPort = '8080' as never;
    assert.throws(() => new PodSpec(broken as never).validate(), /containerPort/);
  });

  it('speaks V2 (PROTOCOL=v2), takes no token behind the cluster (MLC_SERVE_AUTH=none), names the model, and holds no secret', () => {
    const s = roundTrip(input({ name: 'digits-champion' }));
    const c = s.spec.predictor.containers[0]!;
    assert.equal(env(c).PROTOCOL, 'v2');
    assert.equal(env(c).MLC_SERVE_AUTH, 'none');
    assert.equal(env(c).MLC_MODEL_NAME, 'digits-champion');
    const text = toYaml([kserveManifest(input())]);
    assert.doesNotMatch(text, /MLC_SERVE_TOKEN|[Tt]oken|secret/);
  });

  it("is ready when the server's /v2/health/ready says so, on the container's port", () => {
    const c = roundTrip(input()).spec.predictor.containers[0]!;
    assert.deepEqual(c.readinessProbe, { httpGet: { path: '/v2/health/ready', port: 8080 } });
  });

  it('asks for nvidia.com/gpu only with --gpus > 0; a CPU pod sees no GPU', () => {
    const cpu = roundTrip(input()).spec.predictor.containers[0]!;
    assert.equal(cpu.resources, undefined);
    assert.equal(env(cpu).NVIDIA_VISIBLE_DEVICES, 'void');
    const gpu = roundTrip(input({ gpus: 2 })).spec.predictor.containers[0]!;
    assert.deepEqual(gpu.resources, { limits: { 'nvidia.com/gpu': 2 } });
    assert.equal(env(gpu).NVIDIA_VISIBLE_DEVICES, undefined);
    new PodSpec(roundTrip(input({ gpus: 2 })).spec.predictor as never).validate();
    assert.throws(() => kserveManifest(input({ gpus: -1 })), KServeExportError);
    assert.throws(() => kserveManifest(input({ gpus: 0.5 })), /whole number/);
  });

  it('labels the service with the run and commit, and annotates it with what made the model', () => {
    const { labels, annotations } = roundTrip(input()).metadata;
    assert.equal(labels['mlcontainers.org/run'], MODEL_RUN);
    assert.equal(labels['mlcontainers.org/revision'], MODEL_COMMIT);
    assert.equal(labels['mlcontainers.org/dirty'], 'false');
    assert.equal(labels['app.kubernetes.io/name'], 'digits-model');
    assert.equal(annotations[MODEL_LABELS.run], MODEL_RUN);
    assert.equal(annotations[MODEL_LABELS.commit], MODEL_COMMIT);
    assert.equal(annotations[MODEL_LABELS.configSha256], 'b'.repeat(64));
    assert.match(annotations[MODEL_LABELS.cardSha256] ?? '', /^[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(annotations[MODEL_LABELS.artifacts] ?? ''), [{ name: 'model.pt', sha256: MODEL_ARTIFACT_SHA }]);
    assert.equal(annotations[MODEL_LABELS.headline], 'val_acc');
    assert.equal(annotations['mlcontainers.org/headline-value'], '0.9694');
    assert.equal(annotations['mlcontainers.org/image'], `digits-model:${MODEL_RUN}`);
  });

  it('takes hostile label values as data: no label that breaks the syntax, no second YAML document, annotations read back as they were', () => {
    const hostilePath = 'configs/x.yaml\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: stolen}';
    const labels = {
      ...modelImageLabels(),
      [MODEL_LABELS.run]: 'run; rm -rf / #',
      [MODEL_LABELS.configPath]: hostilePath,
      // A sha256 git commit: a commit all right, but longer than a label value may be.
      [MODEL_LABELS.commit]: 'a'.repeat(64),
      [REVISION_LABEL]: 'a'.repeat(64),
      [MODEL_LABELS.headline]: 'acc"\n  injected: true',
      [MODEL_LABELS.metrics]: JSON.stringify({ 'acc"\n  injected: true': 0.5 }),
    };
    const s = roundTrip(input({ labels }));
    for (const [k, v] of Object.entries(s.metadata.labels)) {
      assert.ok(v.length <= 63 && LABEL_VALUE.test(v), `${k}: ${v}`);
    }
    assert.equal(s.metadata.labels['mlcontainers.org/run'], undefined, 'not a run id: neither label nor annotation');
    assert.equal(s.metadata.annotations[MODEL_LABELS.run], undefined);
    assert.equal(s.metadata.labels['mlcontainers.org/revision'], undefined, '64 characters: annotation only');
    assert.equal(s.metadata.annotations[MODEL_LABELS.commit], 'a'.repeat(64));
    assert.equal(s.metadata.annotations[MODEL_LABELS.configPath], hostilePath);
    assert.equal(s.metadata.annotations[MODEL_LABELS.headline], 'acc"\n  injected: true');
    assert.equal((s.metadata as unknown as Record<string, unknown>).injected, undefined);
  });

  it('refuses a reference not pinned by digest and a label that is not a model', () => {
    assert.throws(() => kserveManifest(input({ pinnedRef: 'registry.example.org/lab/digits-model:latest' })), /not pinned by digest/);
    assert.throws(() => kserveManifest(input({ labels: { [ROLE_LABEL]: 'run' } })), /is not a model image/);
    assert.throws(() => kserveManifest(input({ name: 'Digits' })), KServeExportError);
  });

  it('refuses an image that is not a model, and a model without a server, each in one sentence that says what to do', () => {
    const experiment = modelImage({ labels: { [REVISION_LABEL]: MODEL_COMMIT } });
    assert.equal(
      kserveRefusal('dimuon:3f2a1bc', experiment),
      'dimuon:3f2a1bc is not a model image (it has no org.mlcontainers.role=model label): save a run as a model with `mlc model save RUN`, push it, then export that.',
    );
    // A model saved from a project without predict.py: the training image's CMD would run in the predictor.
    const noServer = modelImage({ cmd: ['python', 'train.py'] });
    assert.match(
      kserveRefusal('digits-model:x', noServer) ?? '',
      /^digits-model:x carries no model server .*: add a predict\.py .*`mlc model save` the run again\.$/,
    );
    assert.equal(kserveRefusal('digits-model:x', modelImage()), undefined);
  });

  it("names the service as `mlc serve` names the model, in KServe's alphabet and length", () => {
    assert.equal(defaultServiceName(`digits-model:${MODEL_RUN}`, modelImage()), 'digits-model');
    assert.equal(defaultServiceName('registry.example.org/lab/my_model.v2:champion', modelImage()), 'my-model-v2');
    // An id: the name comes from the image's tags.
    assert.equal(defaultServiceName('5a5a5a5a5a5a', modelImage()), 'digits-model');
    const long = defaultServiceName(`${'x'.repeat(80)}:1`, modelImage());
    assert.ok(long.length <= MAX_SERVICE_NAME && serviceNameProblem(long) === undefined, long);
    assert.equal(defaultServiceName('9lives:1', modelImage()), 'model-9lives');
    assert.equal(kserveFileName('digits-model'), 'digits-model.kserve.yaml');
  });

  it('refuses a --name KServe would not take', () => {
    assert.equal(serviceNameProblem('digits-model'), undefined);
    assert.match(serviceNameProblem('Digits') ?? '', /lowercase letters, digits and '-', starting with a letter/);
    assert.match(serviceNameProblem('1digits') ?? '', /starting with a letter/);
    assert.match(serviceNameProblem('a\nb') ?? '', /^--name "a\\nb" is not a name KServe takes/);
    assert.equal(serviceNameProblem('a'.repeat(MAX_SERVICE_NAME)), undefined);
    assert.match(serviceNameProblem('a'.repeat(MAX_SERVICE_NAME + 1)) ?? '', /at most 47/);
  });
});
