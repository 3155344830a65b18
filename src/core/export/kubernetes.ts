// Kubernetes manifests for an experiment image: a batch/v1 Job, or for distributed runs a Kubeflow PyTorchJob, a
// Kubeflow Trainer TrainJob or a JobSet (those two in kubernetesTraining.ts), with the hyper-parameter file as a
// ConfigMap. Pure: the CLI reads the image and the file, this builds the objects.
import { UserError } from '../errors';
import { loadYaml } from '../yaml';
import { NO_GPU_ENV } from '../container/request';
import { CONFIG_DIR_IN_CONTAINER, CONFIG_ENV } from '../run/experiment';
import { DIRTY_LABEL, LABEL_PREFIX, PRESET_LABEL, REVISION_LABEL, isProvenanceLabel, readProvenance } from '../labels';
import { imageBaseName, repositoryName, splitRegistry, tryParseReference } from '../reference';
import {
  DEFAULT_TRAINING_RUNTIME,
  KUEUE_QUEUE_LABEL,
  jobSet,
  jobSetSuffixLength,
  trainJob,
  trainJobSuffixLength,
} from './kubernetesTraining';

/** Our label prefix as Kubernetes spells prefixes (a DNS name): org.mlcontainers → mlcontainers.org. */
export const K8S_PREFIX = LABEL_PREFIX.split('.').reverse().join('.');

/** A ConfigMap holds at most 1 MiB of data. */
const CONFIG_MAX_BYTES = 1024 * 1024;

/** Matches the local default (mlContainers.shmSize); a memory-backed volume counts against the pod's memory. */
const SHM_SIZE = '8Gi';

/**
 * A batch Job is not retried when the experiment fails: a failed training run is nearly always deterministic (a bug,
 * an OOM, a bad hyper-parameter), and a retry burns the same GPU hours to fail again. Pods the cluster evicts or
 * preempts (condition DisruptionTarget) are not the run's fault: podFailurePolicy retries those without counting.
 */
const JOB_BACKOFF_LIMIT = 0;

/**
 * The training operator has no disruption policy: a lost peer node or an NCCL timeout restarts a replica in place
 * (OnFailure, as the operator's examples do) and counts here. A few restarts, then the job fails.
 */
const PYTORCHJOB_BACKOFF_LIMIT = 3;

export class K8sExportError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'K8sExportError';
  }
}

export const K8S_KINDS = ['job', 'pytorchjob', 'trainjob', 'jobset'] as const;
export type K8sKind = (typeof K8S_KINDS)[number];

export interface K8sExportInput {
  /** The image as named on this machine (a tag or an id): recorded in an annotation. */
  imageRef: string;
  /** What the cluster pulls: `repo@sha256:…` (see pinnedReference). */
  pinnedRef: string;
  /** The image's labels: the commit, dirty flag and preset become Kubernetes labels, ours and OCI's annotations. */
  labels: Readonly<Record<string, string>>;
  /** Arguments for the image's entrypoint, replacing its CMD as `docker run IMAGE …` does; none keeps the CMD. */
  args?: readonly string[];
  /** The hyper-parameter file: a ConfigMap mounted read-only, its path in MLC_CONFIG. */
  config?: { fileName: string; content: string };
  /** nvidia.com/gpu per pod (default 1); 0 runs on CPU nodes. */
  gpus?: number;
  /** A PyTorchJob with one Master and this many Workers instead of a Job (the same as kind 'pytorchjob'). */
  kubeflow?: { workers: number };
  /** What runs the pods (default: a Job, or a PyTorchJob with `kubeflow`). */
  kind?: K8sKind;
  /**
   * Nodes (pods) of a PyTorchJob (Master + Workers, default 2), TrainJob (numNodes) or JobSet (leader + workers);
   * default 1. Wins over `kubeflow.workers`: the CLI refuses the two when they disagree.
   */
  nodes?: number;
  /** A Kueue LocalQueue: the top-level object gets the label Kueue admits it by. */
  queue?: string;
  /** The TrainJob's ClusterTrainingRuntime (default torch-distributed). */
  runtime?: string;
  /**
   * The project's variables (devcontainer.json, --env, env files). One without a value is secret: the pod takes it
   * from the Kubernetes Secret <name>-env by its name, and the manifest holds no value.
   */
  env?: readonly { name: string; value?: string }[];
  /** /dev/shm size (devcontainer.json runArgs --shm-size); default 8Gi. */
  shmSizeBytes?: number;
  /** runArgs --cap-add. */
  capAdd?: readonly string[];
}

/** A Kubernetes object as it is serialised; the shape is checked by the unit tests against the OpenAPI schemas. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface K8sExport {
  /** The Job's (or PyTorchJob's, TrainJob's, JobSet's) name: <image name>-<sha7>, a DNS-1035 label. */
  name: string;
  /** The ConfigMap (when there is a config) first, so `kubectl apply -f` creates it before the pods need it. */
  objects: K8sObject[];
  /** The Secret the pods read their secret variables from, and those names: created by the user, never by us. */
  secret?: { name: string; keys: string[] };
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^(([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DIGEST_REF = /^[^@\s]+@sha256:[0-9a-f]{64}$/;

function labelValue(value: string | undefined): string | undefined {
  return value !== undefined && value.length <= 63 && LABEL_VALUE.test(value) ? value : undefined;
}

function annotationKey(key: string): boolean {
  const name = key.slice(key.indexOf('/') + 1);
  return QUALIFIED_NAME.test(key) && name.length <= 63 && key.length - name.length <= 254;
}

/** docker.io/library/python for python, as the engine and the kubelet both resolve it; undefined for an image id. */
function normalizedRepository(ref: string): string | undefined {
  const parsed = tryParseReference(ref);
  return parsed && repositoryName(parsed);
}

/**
 * The `repo@sha256:…` a cluster pulls: the image's registry digest from `registry` when given, else the one for the
 * repository the image was named by, else its only one. A cluster cannot pull an image that exists only here.
 */
export function pinnedReference(imageRef: string, repoDigests: readonly string[], registry?: string): string {
  const digests = repoDigests.filter((d) => DIGEST_REF.test(d));
  const push = `mlc push ${imageRef} --registry ${registry ?? 'REGISTRY'}`;
  if (!digests.length) {
    throw new K8sExportError(
      `${imageRef} exists only on this machine (it has no registry digest), so a cluster cannot pull it. Push it first (${push}), ` +
        'or, if it is in a registry already, `docker pull` it from there so the engine records its digest; then export again.',
    );
  }
  if (registry) {
    // "ghcr.io/lab", "localhost:5000" or a Docker Hub namespace: compared as the leading part of the repository.
    // Two placeholder components, so that a bare Docker Hub registry does not get library/ put before them.
    const target = splitRegistry(`${registry.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '')}/_/_`);
    const prefix = `${target.registry}/${target.path.slice(0, -'_/_'.length)}`;
    const match = digests.find((d) => normalizedRepository(d)?.startsWith(prefix));
    if (!match) {
      throw new K8sExportError(`${imageRef} has no digest from ${registry} (it has ${digests.join(', ')}). Push it there first: ${push}.`);
    }
    return match;
  }
  const named = normalizedRepository(imageRef);
  const match =
    (named !== undefined ? digests.find((d) => normalizedRepository(d) === named) : undefined) ??
    (digests.length === 1 ? digests[0] : undefined);
  if (!match) {
    throw new K8sExportError(`${imageRef} is in several registries (${digests.join(', ')}): pick one with --registry.`);
  }
  return match;
}

/** The image's name (the repository's last part) as a DNS-1035 label: lowercase, '-', starting with a letter. */
function imageName(pinnedRef: string): string {
  const name = imageBaseName(pinnedRef)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return (/^[a-z]/.test(name) ? name : `mlc-${name}`.replace(/-+$/, '')).slice(0, 63).replace(/-+$/, '');
}

/**
 * <image name>-<sha7>[-dirty] as a DNS-1035 label of at most `max` characters: the Job controller copies the name
 * into a label (63), and the training operator names services <name>-worker-<i>, which must be DNS-1035 labels too.
 * Without a commit, the digest's first 7 hex digits stand in for the sha.
 */
export function resourceName(pinnedRef: string, labels: Readonly<Record<string, string>>, max = 63): string {
  const { revision, dirty } = readProvenance(labels);
  const id = revision && /^[0-9a-f]{7,}$/.test(revision) ? revision.slice(0, 7) : (pinnedRef.split('@sha256:')[1] ?? '').slice(0, 7);
  const suffix = `${id}${dirty ? '-dirty' : ''}`;
  const base = imageName(pinnedRef)
    .slice(0, Math.max(1, max - suffix.length - 1))
    .replace(/-+$/, '');
  return suffix ? `${base}-${suffix}` : base;
}

export function k8sManifests(i: K8sExportInput): K8sExport {
  const gpus = i.gpus ?? 1;
  if (!Number.isInteger(gpus) || gpus < 0) {
    throw new K8sExportError(`--gpus must be a whole number of GPUs per pod (0 for CPU), not ${String(gpus)}.`);
  }
  if (i.kubeflow && (!Number.isInteger(i.kubeflow.workers) || i.kubeflow.workers < 1)) {
    throw new K8sExportError(`--workers must be 1 or more (the PyTorchJob's Master is one more pod), not ${String(i.kubeflow.workers)}.`);
  }
  if (!DIGEST_REF.test(i.pinnedRef)) {
    throw new K8sExportError(`${i.pinnedRef} is not pinned by digest (repo@sha256:<64 hex>): a cluster must pull exactly this image.`);
  }
  const kind: K8sKind = i.kind ?? (i.kubeflow ? 'pytorchjob' : 'job');
  const nodes = i.nodes ?? (i.kubeflow ? i.kubeflow.workers + 1 : kind === 'pytorchjob' ? 2 : 1);
  if (!Number.isInteger(nodes) || nodes < 1) {
    throw new K8sExportError(`--nodes must be a whole number from 1, not ${String(nodes)}.`);
  }
  if (kind === 'job' && nodes > 1) {
    throw new K8sExportError(`A batch Job runs one pod: for ${nodes} nodes use --kind jobset, trainjob or pytorchjob.`);
  }
  if (kind === 'pytorchjob' && nodes < 2) {
    throw new K8sExportError('A PyTorchJob has a Master and at least one Worker: --nodes must be 2 or more.');
  }
  if (i.queue !== undefined && (!i.queue || !labelValue(i.queue))) {
    throw new K8sExportError(`--queue ${i.queue} is not a Kueue LocalQueue name (a label value: at most 63 of [A-Za-z0-9-_.]).`);
  }
  const runtime = i.runtime ?? DEFAULT_TRAINING_RUNTIME;
  if (kind === 'trainjob' && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(runtime)) {
    throw new K8sExportError(`--runtime ${runtime} is not a ClusterTrainingRuntime name (lowercase letters, digits, '-' and '.').`);
  }
  const suffix =
    kind === 'pytorchjob'
      ? `-worker-${nodes - 2}`.length
      : kind === 'trainjob'
        ? trainJobSuffixLength(nodes)
        : kind === 'jobset'
          ? jobSetSuffixLength(nodes)
          : 0;
  const name = resourceName(i.pinnedRef, i.labels, 63 - suffix);
  const labels = k8sLabels(imageName(i.pinnedRef), i.labels);
  // Only on the top-level object, where Kueue reads it: on a pod it would mean nothing, on the ConfigMap less.
  const topLabels = i.queue ? { ...labels, [KUEUE_QUEUE_LABEL]: i.queue } : labels;
  const annotations = k8sAnnotations(i);
  const objects: K8sObject[] = [];

  const volumes: unknown[] = [
    { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: i.shmSizeBytes ? `${Math.ceil(i.shmSizeBytes / 1024 ** 2)}Mi` : SHM_SIZE } },
  ];
  const mounts: unknown[] = [{ name: 'dshm', mountPath: '/dev/shm' }];
  const secretName = `${name}-env`;
  const secretKeys = (i.env ?? []).filter((v) => v.value === undefined).map((v) => v.name);
  const env: ({ name: string; value: string } | { name: string; valueFrom: unknown })[] = (i.env ?? []).map((v) =>
    v.value === undefined
      ? { name: v.name, valueFrom: { secretKeyRef: { name: secretName, key: v.name } } }
      : { name: v.name, value: v.value },
  );
  if (i.config) {
    const key = configKey(i.config.fileName);
    if (Buffer.byteLength(i.config.content) > CONFIG_MAX_BYTES) {
      throw new K8sExportError(
        `${i.config.fileName} is larger than a ConfigMap holds (1 MiB): bake it into the image, or leave out --config.`,
      );
    }
    objects.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `${name}-config`, labels, annotations },
      data: { [key]: i.config.content },
    });
    volumes.push({ name: 'config', configMap: { name: `${name}-config` } });
    mounts.push({ name: 'config', mountPath: CONFIG_DIR_IN_CONTAINER, readOnly: true });
    env.push({ name: CONFIG_ENV, value: `${CONFIG_DIR_IN_CONTAINER}/${key}` });
  }
  // A CPU pod on a GPU node whose default runtime is nvidia would otherwise see every GPU the image asks for.
  if (gpus === 0) env.push({ ...NO_GPU_ENV });
  const container = (containerName: string): Record<string, unknown> => ({
    name: containerName,
    image: i.pinnedRef,
    ...(i.args?.length ? { args: [...i.args] } : {}),
    ...(env.length ? { env } : {}),
    ...(gpus > 0 ? { resources: { limits: { 'nvidia.com/gpu': gpus } } } : {}),
    ...(i.capAdd?.length ? { securityContext: { capabilities: { add: [...i.capAdd] } } } : {}),
    volumeMounts: mounts,
  });
  const template = (containerName: string, restartPolicy?: string): Record<string, unknown> => ({
    metadata: { labels, annotations },
    spec: { ...(restartPolicy ? { restartPolicy } : {}), containers: [container(containerName)], volumes },
  });

  const parts = {
    name,
    labels,
    annotations,
    image: i.pinnedRef,
    ...(i.args?.length ? { args: i.args } : {}),
    env,
    gpus,
    volumes,
    mounts,
    ...(i.capAdd?.length ? { capAdd: i.capAdd } : {}),
  };
  if (kind === 'trainjob') {
    objects.push(trainJob(parts, nodes, runtime, topLabels) as K8sObject);
  } else if (kind === 'jobset') {
    objects.push(jobSet(parts, nodes, topLabels) as K8sObject);
  } else if (kind === 'job') {
    objects.push({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, labels: topLabels, annotations },
      spec: {
        backoffLimit: JOB_BACKOFF_LIMIT,
        podFailurePolicy: { rules: [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] }] },
        template: template('experiment', 'Never'),
      },
    });
  } else {
    // The operator sets the pods' restartPolicy from the replica's, and finds the training container by the name
    // `pytorch` (to inject MASTER_ADDR, RANK, WORLD_SIZE and the port).
    const replica = (replicas: number): Record<string, unknown> => ({
      replicas,
      restartPolicy: 'OnFailure',
      template: template('pytorch'),
    });
    objects.push({
      apiVersion: 'kubeflow.org/v1',
      kind: 'PyTorchJob',
      metadata: { name, labels: topLabels, annotations },
      spec: {
        runPolicy: { backoffLimit: PYTORCHJOB_BACKOFF_LIMIT },
        pytorchReplicaSpecs: { Master: replica(1), Worker: replica(nodes - 1) },
      },
    });
  }
  return { name, objects, ...(secretKeys.length ? { secret: { name: secretName, keys: secretKeys } } : {}) };
}

/** Selectable labels: values must be ≤ 63 characters of [A-Za-z0-9-_.], so anything else is left to annotations. */
function k8sLabels(name: string, imageLabels: Readonly<Record<string, string>>): Record<string, string> {
  const labels: Record<string, string> = { 'app.kubernetes.io/name': name };
  const entries: [string, string | undefined][] = [
    ['revision', imageLabels[REVISION_LABEL]],
    ['dirty', imageLabels[DIRTY_LABEL]],
    ['preset', imageLabels[PRESET_LABEL]],
  ];
  for (const [key, value] of entries) {
    const v = labelValue(value);
    if (v) labels[`${K8S_PREFIX}/${key}`] = v;
  }
  return labels;
}

/** Our and the OCI image labels in full (annotations take any value), and what this export chose. */
function k8sAnnotations(i: K8sExportInput): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(i.labels).sort(([a], [b]) => a.localeCompare(b))) {
    if (isProvenanceLabel(k) && annotationKey(k)) annotations[k] = v;
  }
  annotations[`${K8S_PREFIX}/image`] = i.imageRef;
  return annotations;
}

/** A ConfigMap key ([-._a-zA-Z0-9]+) from the file's base name. */
function configKey(fileName: string): string {
  const key = fileName.replace(/^.*[\\/]/, '').replace(/[^-._a-zA-Z0-9]+/g, '_');
  return /^\.*$/.test(key) ? 'config.yaml' : key;
}

/** The manifest file's name beside the others: <name>.k8s.yaml. */
export function manifestFileName(e: K8sExport): string {
  return `${e.name}.k8s.yaml`;
}

/**
 * Multi-document YAML. Written as YAML 1.1 so strings such as "on" or "yes" are quoted: kubectl's reader
 * (sigs.k8s.io/yaml) would otherwise take them for booleans. No folding of long values, and no anchors for the
 * labels and volumes the objects share: the file is read by people too.
 */
export function toYaml(objects: readonly K8sObject[]): string {
  const yaml = loadYaml();
  return objects.map((o) => yaml.stringify(o, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}
