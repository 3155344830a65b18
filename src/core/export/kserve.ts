// A KServe InferenceService for a model image (`mlc export kserve`): the image itself as a custom predictor, pinned by
// its registry digest, speaking the Open Inference Protocol (V2) REST through our server (templates/model/serve.py).
// Pure: the CLI reads the image and pins it (pinnedReference, as `mlc export k8s` does), this builds the object.
// Field names as KServe documents a custom predictor (kserve/website, docs/modelserving/v1beta1/custom/custom_model):
// one container named kserve-container whose PROTOCOL env var is the protocol (KServe's CustomPredictor.GetProtocol).
import type { ImageDetails } from '../docker/engine';
import { NO_GPU_ENV } from '../container/request';
import { UserError } from '../errors';
import { MODEL_LABELS, readModelLabels, shownValue } from '../model/card';
import { SERVE_PORT, imageServes, servedModelName } from '../model/layout';
import type { K8sObject } from './kubernetes';
import { K8S_PREFIX } from './kubernetes';

/** The container name KServe looks for in a custom predictor (constants.InferenceServiceContainerName). */
export const KSERVE_CONTAINER = 'kserve-container';
/**
 * The longest InferenceService name: Knative names the predictor's revisions <name>-predictor-00001, and the
 * revision's name goes into a label value (63 characters).
 */
export const MAX_SERVICE_NAME = 63 - '-predictor-00001'.length;
/** An annotation longer than this (the artifacts of a model with hundreds of files) stays in card.json only. */
const MAX_ANNOTATION = 16 * 1024;

export class KServeExportError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'KServeExportError';
  }
}

export interface KServeExportInput {
  /** The model as named on this machine (NAME:RUN, an alias, an id): recorded in an annotation. */
  imageRef: string;
  /** What the cluster pulls: `repo@sha256:…` (see pinnedReference). */
  pinnedRef: string;
  /** The model image's labels: untrusted (it may come from any registry); read through readModelLabels. */
  labels: Readonly<Record<string, string>>;
  /** The InferenceService's name, and the model's in /v2/models/NAME (serviceNameProblem says what is allowed). */
  name: string;
  /** nvidia.com/gpu for the predictor (default 0: a CPU pod). */
  gpus?: number;
}

const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DIGEST_REF = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

/**
 * Why `ref` cannot be exported as an InferenceService, or undefined: it must be a model image that carries our server
 * (saved from a project with a predict.py), since the predictor runs the image's own CMD.
 */
export function kserveRefusal(ref: string, image: Pick<ImageDetails, 'labels' | 'cmd'>): string | undefined {
  if (!readModelLabels(image.labels))
    return `${shownValue(ref)} is not a model image (it has no org.mlcontainers.role=model label): save a run as a model with \`mlc model save RUN\`, push it, then export that.`;
  if (!imageServes(image))
    return `${shownValue(ref)} carries no model server (its project had no predict.py when it was saved): add a predict.py that gives load(model_dir) and predict(model, inputs), then \`mlc model save\` the run again.`;
  return undefined;
}

/** Why `name` cannot name an InferenceService, or undefined. */
export function serviceNameProblem(name: string): string | undefined {
  if (!DNS_1035.test(name))
    return `--name ${shownValue(name)} is not a name KServe takes: lowercase letters, digits and '-', starting with a letter (e.g. digits-model).`;
  if (name.length > MAX_SERVICE_NAME)
    return `--name ${name} has ${name.length} characters, and KServe's revisions of it must fit a 63-character label: at most ${MAX_SERVICE_NAME}.`;
  return undefined;
}

/** The name `mlc serve` gives the model (digits-model) as KServe takes it: '-' for '.' and '_', cut to fit. */
export function defaultServiceName(ref: string, image: Pick<ImageDetails, 'repoTags'>): string {
  const name = servedModelName(ref, image)
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return (/^[a-z]/.test(name) ? name : `model-${name}`).slice(0, MAX_SERVICE_NAME).replace(/-+$/, '');
}

/** The manifest file's name: <name>.kserve.yaml. */
export function kserveFileName(name: string): string {
  return `${name}.kserve.yaml`;
}

export function kserveManifest(i: KServeExportInput): K8sObject {
  const gpus = i.gpus ?? 0;
  if (!Number.isInteger(gpus) || gpus < 0) {
    throw new KServeExportError(`--gpus must be a whole number of GPUs for the predictor (0 for CPU), not ${String(gpus)}.`);
  }
  if (!DIGEST_REF.test(i.pinnedRef)) {
    throw new KServeExportError(`${i.pinnedRef} is not pinned by digest (repo@sha256:<64 hex>): a cluster must pull exactly this model.`);
  }
  const problem = serviceNameProblem(i.name);
  if (problem) throw new KServeExportError(problem);
  const facts = readModelLabels(i.labels);
  if (!facts)
    throw new KServeExportError(`${shownValue(i.imageRef)} is not a model image: save a run as a model with \`mlc model save RUN\`.`);

  // Selectable labels: a Kubernetes label value is at most 63 of [A-Za-z0-9._-]; anything else is left to annotations.
  const labels: Record<string, string> = { 'app.kubernetes.io/name': i.name, 'app.kubernetes.io/component': 'model' };
  const label = (key: string, value: string | undefined): void => {
    if (value !== undefined && value.length <= 63 && LABEL_VALUE.test(value)) labels[`${K8S_PREFIX}/${key}`] = value;
  };
  label('run', facts.run);
  label('revision', facts.commit);
  label('dirty', String(facts.dirty));

  // The facts that answer "which run made this?" under the image's own label keys (as `mlc inspect` names them),
  // each as readModelLabels checked it; annotations take any value, and the YAML writer quotes what needs it.
  const L = MODEL_LABELS;
  const annotations: Record<string, string> = {};
  const annotate = (key: string, value: string | undefined): void => {
    if (value !== undefined && value.length <= MAX_ANNOTATION) annotations[key] = value;
  };
  annotate(L.run, facts.run);
  annotate(L.sweep, facts.sweep?.id);
  annotate(L.commit, facts.commit);
  annotate(L.dirty, String(facts.dirty));
  annotate(L.configPath, facts.config?.path);
  annotate(L.configSha256, facts.config?.sha256);
  annotate(L.imageId, facts.image?.id);
  annotate(L.baseDigest, facts.baseDigest);
  annotate(L.lockSha256, facts.lockSha256);
  annotate(L.cardSha256, facts.cardSha256);
  if (facts.headline && facts.metrics && Object.hasOwn(facts.metrics, facts.headline)) {
    annotate(L.headline, facts.headline);
    annotate(`${K8S_PREFIX}/headline-value`, String(facts.metrics[facts.headline]));
  }
  if (facts.artifacts) annotate(L.artifacts, JSON.stringify(facts.artifacts.map((a) => ({ name: a.name, sha256: a.sha256 }))));
  annotate(`${K8S_PREFIX}/image`, i.imageRef);

  const env: { name: string; value: string }[] = [
    // KServe reads a custom predictor's protocol from this variable (v1 when it is absent).
    { name: 'PROTOCOL', value: 'v2' },
    // KServe's ingress (Knative, Istio, the cluster's gateway) is where requests are authenticated: the pod holds no token.
    { name: 'MLC_SERVE_AUTH', value: 'none' },
    { name: 'MLC_MODEL_NAME', value: i.name },
  ];
  // A CPU pod on a GPU node whose default runtime is nvidia would otherwise see every GPU the image asks for.
  if (gpus === 0) env.push({ ...NO_GPU_ENV });
  const container: Record<string, unknown> = {
    name: KSERVE_CONTAINER,
    image: i.pinnedRef,
    // No command or args: the image's CMD runs our server on 0.0.0.0:SERVE_PORT (core/model/serve.ts).
    ports: [{ containerPort: SERVE_PORT, protocol: 'TCP' }],
    env,
    // Ready once load(model_dir) returned: the server answers 200 here only then, and probes carry no token.
    readinessProbe: { httpGet: { path: '/v2/health/ready', port: SERVE_PORT } },
    ...(gpus > 0 ? { resources: { limits: { 'nvidia.com/gpu': gpus } } } : {}),
  };
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { name: i.name, labels, annotations },
    spec: { predictor: { containers: [container] } },
  };
}
