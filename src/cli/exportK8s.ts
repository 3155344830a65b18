import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Engine } from '../core/docker/engine';
import { machineEngine } from '../core/docker/machine';
import { envNamesOnly, runtimeSettings } from '../core/container/runtime';
import type { K8sKind } from '../core/export/kubernetes';
import { K8S_KINDS, k8sManifests, manifestFileName, pinnedReference, toYaml } from '../core/export/kubernetes';
import { openProject } from '../core/project';
import { UncommittedImageError, assertCommitted, configMismatchNote } from '../core/export/rules';
import { pushRecordFile, recordedPushes, registryDigests } from '../core/push/pushRecord';
import type { CliIO } from './io';
import { UsageError, refuse, writeGenerated } from './io';

export const exportK8sHelp = `mlc export k8s IMAGE [--config FILE] [--gpus N] [--kind KIND] [--nodes N] [--queue NAME] [--runtime NAME]
                     [--kubeflow [--workers N]] [--registry REG] [--allow-dirty] [--env NAME]… [--env-file FILE]…
                     [--dir DIR] [--out DIR] [--force] [--apply] [--json] [--host URL] [-- ARG…]

Writes Kubernetes manifests for an experiment image to <name>-<sha7>.k8s.yaml: a batch/v1 Job (or, with --kind,
a PyTorchJob, TrainJob or JobSet) running the image pinned by its registry digest, requesting nvidia.com/gpu and
labelled with the image's commit, and the hyper-parameter file as a ConfigMap mounted at /etc/mlc/config/<file>
with its path in MLC_CONFIG. Arguments after -- replace the image's CMD (its ENTRYPOINT still runs).

  --config FILE   hyper-parameter file for the job, as a ConfigMap (at most 1 MiB)
  --gpus N        nvidia.com/gpu per pod (default: 1; 0 runs on CPU nodes)
  --kind KIND     job (default): a batch/v1 Job of one pod;
                  pytorchjob: a kubeflow.org/v1 PyTorchJob, one Master and N-1 Workers (the training operator);
                  trainjob: a Kubeflow Trainer v2 trainer.kubeflow.org/v1alpha1 TrainJob of --runtime on N nodes;
                  jobset: a jobset.x-k8s.io/v1alpha2 JobSet, a leader pod and N-1 workers, MASTER_ADDR the leader's
  --nodes N       pods of a pytorchjob (default 2), trainjob or jobset (default 1)
  --queue NAME    the Kueue LocalQueue to submit to (label kueue.x-k8s.io/queue-name on the job)
  --runtime NAME  the TrainJob's ClusterTrainingRuntime (default: torch-distributed)
  --kubeflow      the same as --kind pytorchjob; one process per pod: for several GPUs per pod, run
                  torchrun --nproc-per-node N after --
  --workers N     Worker replicas of the PyTorchJob (default: 1), the same as --nodes N+1
  --registry REG  the registry whose digest to pin, when the image was pushed to several
  --allow-dirty   export an image built from uncommitted changes (refused otherwise: its commit is not its code)
  --env NAME      a variable the pods take from the Secret <name>-env (key NAME); the manifest holds no value
  --env-file FILE its variables, the same way: create the Secret with kubectl create secret generic <name>-env
                  --from-env-file=FILE
  --dir DIR       the project whose devcontainer.json containerEnv, remoteEnv and runArgs (--shm-size,
                  --cap-add, -e) apply (default: .); values from \${localEnv:…} go to the Secret too
  --out DIR       where to write the manifest (default: .)
  --force         replace an existing manifest that differs
  --apply         then run \`kubectl apply -f\` on it (kubectl's current context and namespace)
  --json          print {"file", "name": the job's, "image": the pinned reference, "kinds": [...], "applied"}
                  (kubectl's own output goes to stderr)
  --host URL      Docker host instead of DOCKER_HOST / the docker context

The cluster pulls the image from its registry: push it first (mlc push IMAGE --registry REG). Names are fixed
per commit, so \`kubectl apply\` of the same export again changes nothing: delete the finished job to rerun it.`;

/** What the command reaches outside itself; the unit tests pass fakes. */
export interface ExportK8sDeps {
  engine(host: string | undefined): Engine;
  /** Runs kubectl with the terminal's output (stdout to stderr when `quiet`); undefined when kubectl is not on PATH. */
  kubectl(args: string[], quiet: boolean): { status: number | null } | undefined;
  /** Where `mlc push` records what registries answered (push/pushRecord.ts). */
  pushRecord: string;
}

function machineDeps(io: CliIO): ExportK8sDeps {
  return {
    engine: (host) => machineEngine(host, {}, io.env),
    pushRecord: pushRecordFile(io.env, io.env.HOME || os.homedir()),
    kubectl: (args, quiet) => {
      const r = spawnSync('kubectl', args, { stdio: ['ignore', quiet ? 2 : 'inherit', 'inherit'] });
      return (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? undefined : { status: r.status };
    },
  };
}

function count(flag: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    throw new UsageError(`${flag} takes a whole number${min ? ` from ${min}` : ''}, not "${raw}".`);
  }
  return Number(raw);
}

export async function exportK8s(args: string[], io: CliIO, signal: AbortSignal, fakes: Partial<ExportK8sDeps> = {}): Promise<number> {
  const deps = { ...machineDeps(io), ...fakes };
  const dashes = args.indexOf('--');
  const { values, positionals } = parseArgs({
    args: dashes < 0 ? args : args.slice(0, dashes),
    options: {
      config: { type: 'string' },
      gpus: { type: 'string' },
      kubeflow: { type: 'boolean', default: false },
      workers: { type: 'string' },
      kind: { type: 'string' },
      nodes: { type: 'string' },
      queue: { type: 'string' },
      runtime: { type: 'string' },
      registry: { type: 'string' },
      'allow-dirty': { type: 'boolean', default: false },
      out: { type: 'string', default: '.' },
      force: { type: 'boolean', default: false },
      apply: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
      env: { type: 'string', multiple: true, default: [] },
      'env-file': { type: 'string', multiple: true, default: [] },
      dir: { type: 'string', default: '.' },
    },
    strict: true,
    allowPositionals: true,
  });
  const command = dashes < 0 ? [] : args.slice(dashes + 1);
  const [imageRef, ...rest] = positionals;
  if (!imageRef || rest.length) {
    throw new UsageError(
      'usage: mlc export k8s IMAGE [--config FILE] [--gpus N] [--kind KIND] [--nodes N] [--queue NAME] [--apply] [-- ARG…]',
    );
  }
  const gpus = count('--gpus', values.gpus, 0);
  const workers = count('--workers', values.workers, 1);
  let nodes = count('--nodes', values.nodes, 1);
  const kindFlag = values.kind?.toLowerCase();
  if (kindFlag !== undefined && !(K8S_KINDS as readonly string[]).includes(kindFlag)) {
    throw new UsageError(`--kind takes ${K8S_KINDS.join(', ')}, not "${values.kind}".`);
  }
  if (values.kubeflow && kindFlag !== undefined && kindFlag !== 'pytorchjob') {
    throw new UsageError(`--kubeflow makes a PyTorchJob: leave it out for --kind ${kindFlag}.`);
  }
  const kind = (kindFlag ?? (values.kubeflow ? 'pytorchjob' : 'job')) as K8sKind;
  if (workers !== undefined && kind !== 'pytorchjob') {
    throw new UsageError('--workers is for --kubeflow (a PyTorchJob); a batch Job runs one pod, and the other kinds take --nodes.');
  }
  if (workers !== undefined && nodes !== undefined && nodes !== workers + 1) {
    throw new UsageError(
      `--nodes ${nodes} and --workers ${workers} disagree: a PyTorchJob's nodes are its Master and Workers, so give one of them.`,
    );
  }
  if (workers !== undefined) nodes = workers + 1;
  if (values.runtime !== undefined && kind !== 'trainjob') {
    throw new UsageError('--runtime names the ClusterTrainingRuntime of a TrainJob: it goes with --kind trainjob.');
  }

  let config: { fileName: string; content: string } | undefined;
  if (values.config) {
    const content = await fs.readFile(values.config, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read --config ${values.config}: ${e.code ?? e.message}.`);
    });
    config = { fileName: path.basename(values.config), content };
  }

  const engine = deps.engine(values.host);
  const image = await engine.inspectImage(imageRef, signal);
  if (!image) return refuse(io, values.json, `No image ${imageRef} in this engine: build it first (mlc build), or name one from mlc ls.`);
  try {
    assertCommitted(imageRef, image.labels, values['allow-dirty']);
  } catch (e) {
    // Said as a refusal of this export, without the command prefix of an unexpected failure.
    if (!(e instanceof UncommittedImageError)) throw e;
    return refuse(io, values.json, e.message);
  }
  const note = config && values.config ? configMismatchNote(imageRef, values.config, config.content, image.labels) : undefined;
  if (note) io.err(note);

  // Podman gives local images RepoDigests too: there, only the digests a registry gave `mlc push` count.
  const podman = (await engine.version(signal)).isPodman;
  const digests = registryDigests(image.repoDigests, podman, podman ? await recordedPushes(deps.pushRecord, image.id) : []);
  const pinnedRef = pinnedReference(imageRef, digests, values.registry);
  const folder = path.resolve(values.dir);
  const project = await openProject(folder);
  const raw = project.rawConfig;
  const runtime = await runtimeSettings(raw, {
    workspace: folder,
    hostEnv: io.env,
    ...(raw ? { configFile: project.devcontainerPath } : {}),
    user: { envFiles: values['env-file'].map((f) => path.resolve(f)) },
  });
  const env = [
    ...runtime.env.map((v) => (v.secret ? { name: v.name } : { name: v.name, value: v.value })),
    ...envNamesOnly(values.env).map((name) => ({ name })),
  ];
  const local = [
    ...runtime.mounts.map((m) => m.Target),
    ...runtime.binds.map((b) => b.split(':')[1] ?? b),
    ...runtime.devices.map((d) => d.PathInContainer),
  ];
  if (local.length)
    io.err(
      `note: ${local.join(', ')} (devcontainer.json mounts, -v, --device) name this machine's paths and are not in the manifest: give the pods a volume of their own.`,
    );
  const manifests = k8sManifests({
    env: [...new Map(env.map((v) => [v.name, v])).values()],
    ...(runtime.shmSizeBytes ? { shmSizeBytes: runtime.shmSizeBytes } : {}),
    ...(runtime.capAdd.length ? { capAdd: runtime.capAdd } : {}),
    imageRef,
    pinnedRef,
    labels: image.labels,
    args: command,
    ...(config ? { config } : {}),
    ...(gpus !== undefined ? { gpus } : {}),
    kind,
    ...(nodes !== undefined ? { nodes } : {}),
    ...(values.queue !== undefined ? { queue: values.queue } : {}),
    ...(values.runtime !== undefined ? { runtime: values.runtime } : {}),
  });
  const text = toYaml(manifests.objects);
  const file = path.resolve(values.out, manifestFileName(manifests));
  const refused = await writeGenerated(file, text, values.force);
  if (refused) return refuse(io, values.json, refused);
  if (manifests.secret) {
    io.err(
      `The pods read ${manifests.secret.keys.join(', ')} from the Secret ${manifests.secret.name}, which is not in the manifest: create it first, e.g. kubectl create secret generic ${manifests.secret.name} ${values['env-file'].length ? values['env-file'].map((f) => `--from-env-file=${f}`).join(' ') : manifests.secret.keys.map((k) => `--from-literal=${k}=…`).join(' ')}`,
    );
  }
  const report = (applied: boolean): string =>
    JSON.stringify({ file, name: manifests.name, image: pinnedRef, kinds: manifests.objects.map((o) => o.kind), applied });
  if (!values.json) io.out(file);
  if (!values.apply) {
    if (values.json) io.out(report(false));
    return 0;
  }

  const applied = deps.kubectl(['apply', '-f', file], values.json);
  if (!applied) {
    return refuse(
      io,
      values.json,
      `kubectl is not installed here: apply the manifest where it is, with \`kubectl apply -f ${path.basename(file)}\`.`,
    );
  }
  if (applied.status !== 0) {
    const operator = {
      job: '',
      pytorchjob: '; a PyTorchJob needs the Kubeflow training operator installed in the cluster',
      trainjob: `; a TrainJob needs Kubeflow Trainer v2 and its ClusterTrainingRuntime ${values.runtime ?? 'torch-distributed'} in the cluster`,
      jobset: '; a JobSet needs the JobSet controller installed in the cluster',
    }[kind];
    return refuse(
      io,
      values.json,
      `kubectl apply failed (exit ${String(applied.status)}, its message above): check \`kubectl config current-context\`${operator}. The manifest stays at ${file}.`,
    );
  }
  if (values.json) io.out(report(true));
  return 0;
}
