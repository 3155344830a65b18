// The multi-node kinds of `mlc export k8s` that clusters run today: a Kubeflow Trainer v2 TrainJob and a JobSet.
// Pure, and free of kubernetes.ts (which builds the shared pod pieces and calls these) so the two do not import
// each other.

/** Kueue reads the queue from this label on the top-level object, whatever its kind. */
export const KUEUE_QUEUE_LABEL = 'kueue.x-k8s.io/queue-name';

/** The ClusterTrainingRuntime the Trainer installs for PyTorch (torchrun on every node). */
export const DEFAULT_TRAINING_RUNTIME = 'torch-distributed';

/**
 * The Trainer's runtimes name their one replicated job, and its training container, `node` (as torch-distributed
 * does): runtimePatches point at them by these names.
 */
const TRAINER_NODE = 'node';

/** Who owns our runtime patch (a domain-prefixed path, which the Trainer requires): what `kubectl apply` wrote. */
const TRAINER_PATCH_MANAGER = 'mlcontainers.org/export';

/** torchrun's default rendezvous port, which the JobSet's pods are told in MASTER_PORT. */
const RENDEZVOUS_PORT = 29500;

/**
 * A lost peer node or an NCCL timeout fails one pod of a multi-node run: JobSet restarts the whole set a few times
 * (as the PyTorchJob's backoffLimit does), then fails. A failed run is not retried within a Job (backoffLimit 0), and
 * an eviction or preemption does not count.
 */
const JOBSET_MAX_RESTARTS = 3;

type Env = { name: string; value: string } | { name: string; valueFrom: unknown };

/** What kubernetes.ts has worked out for every kind: the pod's pieces, already validated. */
export interface PodParts {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  image: string;
  args?: readonly string[];
  env: readonly Env[];
  gpus: number;
  volumes: readonly unknown[];
  mounts: readonly unknown[];
  capAdd?: readonly string[];
}

/** The room to leave in a TrainJob's name for what the Trainer derives: pods <name>-node-0-<i>-<5 random>. */
export function trainJobSuffixLength(nodes: number): number {
  return `-${TRAINER_NODE}-0-${nodes - 1}`.length;
}

/** The room to leave in a JobSet's name for its Jobs' pods' hostnames: <name>-workers-<i>-0. */
export function jobSetSuffixLength(nodes: number): number {
  return `-workers-${Math.max(0, nodes - 2)}-0`.length;
}

/**
 * A trainer.kubeflow.org/v1alpha1 TrainJob, as Kubeflow Trainer v2.2 and later (v2.3 today) take it, running `runtime`
 * on `nodes` nodes; the runtime starts torchrun. The trainer has no volumes: /dev/shm and the hyper-parameter ConfigMap
 * reach the runtime's `node` container through spec.runtimePatches, which is also where the pods get our labels and
 * any added capabilities. The same apiVersion had other shapes for this: v2.0 a flat podSpecOverrides, v2.1
 * podTemplateOverrides and spec.labels; a cluster on those refuses this field (kubectl validates strictly).
 */
export function trainJob(p: PodParts, nodes: number, runtime: string, metaLabels: Record<string, string>): Record<string, unknown> {
  const meta = { labels: p.labels, annotations: p.annotations };
  return {
    apiVersion: 'trainer.kubeflow.org/v1alpha1',
    kind: 'TrainJob',
    metadata: { name: p.name, labels: metaLabels, annotations: p.annotations },
    spec: {
      runtimeRef: { name: runtime, apiGroup: 'trainer.kubeflow.org', kind: 'ClusterTrainingRuntime' },
      trainer: {
        image: p.image,
        ...(p.args?.length ? { args: [...p.args] } : {}),
        // The trainer's env, not the patch's: the Trainer refuses variables patched into the `node` container.
        ...(p.env.length ? { env: [...p.env] } : {}),
        numNodes: nodes,
        ...(p.gpus > 0 ? { resourcesPerNode: { limits: { 'nvidia.com/gpu': p.gpus } } } : {}),
      },
      runtimePatches: [
        {
          manager: TRAINER_PATCH_MANAGER,
          trainingRuntimeSpec: {
            template: {
              metadata: meta,
              spec: {
                replicatedJobs: [
                  {
                    name: TRAINER_NODE,
                    template: {
                      metadata: meta,
                      spec: {
                        template: {
                          metadata: meta,
                          spec: {
                            volumes: [...p.volumes],
                            containers: [
                              {
                                name: TRAINER_NODE,
                                volumeMounts: [...p.mounts],
                                ...(p.capAdd?.length ? { securityContext: { capabilities: { add: [...p.capAdd] } } } : {}),
                              },
                            ],
                          },
                        },
                      },
                    },
                  },
                ],
              },
            },
          },
        },
      ],
    },
  };
}

/**
 * A jobset.x-k8s.io/v1alpha2 JobSet: a `leader` replicated job of one pod and a `workers` one of nodes-1 pods (none
 * for one node), each pod a one-pod Job. JobSet gives every pod a stable hostname in a headless service named after
 * the set, so the workers reach the leader at MASTER_ADDR; torchrun's c10d rendezvous needs no rank, only NNODES.
 */
export function jobSet(p: PodParts, nodes: number, metaLabels: Record<string, string>): Record<string, unknown> {
  const env: Env[] = [
    ...p.env,
    { name: 'MASTER_ADDR', value: `${p.name}-leader-0-0.${p.name}` },
    { name: 'MASTER_PORT', value: String(RENDEZVOUS_PORT) },
    { name: 'NNODES', value: String(nodes) },
  ];
  const replicatedJob = (name: string, replicas: number): Record<string, unknown> => ({
    name,
    replicas,
    template: {
      spec: {
        parallelism: 1,
        completions: 1,
        backoffLimit: 0,
        podFailurePolicy: { rules: [{ action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget' }] }] },
        template: {
          metadata: { labels: p.labels, annotations: p.annotations },
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'experiment',
                image: p.image,
                ...(p.args?.length ? { args: [...p.args] } : {}),
                env,
                ...(p.gpus > 0 ? { resources: { limits: { 'nvidia.com/gpu': p.gpus } } } : {}),
                ...(p.capAdd?.length ? { securityContext: { capabilities: { add: [...p.capAdd] } } } : {}),
                volumeMounts: [...p.mounts],
              },
            ],
            volumes: [...p.volumes],
          },
        },
      },
    },
  });
  return {
    apiVersion: 'jobset.x-k8s.io/v1alpha2',
    kind: 'JobSet',
    metadata: { name: p.name, labels: metaLabels, annotations: p.annotations },
    spec: {
      network: { enableDNSHostnames: true },
      failurePolicy: { maxRestarts: JOBSET_MAX_RESTARTS },
      replicatedJobs: [replicatedJob('leader', 1), ...(nodes > 1 ? [replicatedJob('workers', nodes - 1)] : [])],
    },
  };
}
