import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import {
  KServeExportError,
  defaultServiceName,
  kserveFileName,
  kserveManifest,
  kserveRefusal,
  serviceNameProblem,
} from '../core/export/kserve';
import type { K8sObject } from '../core/export/kubernetes';
import { K8sExportError, pinnedReference, toYaml } from '../core/export/kubernetes';
import { pushRecordFile, recordedPushes, registryDigests } from '../core/push/pushRecord';
import { readModelLabels, shownValue } from '../core/model/card';
import type { ExportK8sDeps } from './exportK8s';
import type { CliIO } from './io';
import { UsageError, refuse, writeGenerated } from './io';

export const exportKserveHelp = `mlc export kserve MODEL [--registry REG] [--name N] [--gpus N] [--out DIR] [--force] [--apply] [--json] [--host URL]

Writes a KServe InferenceService (serving.kserve.io/v1beta1) for a model image to <name>.kserve.yaml: the model
image itself as the predictor (container kserve-container), pinned by its registry digest, running its own V2
server (the Open Inference Protocol REST, as \`mlc serve\`) on port 8080, ready when /v2/health/ready says so, and
labelled with the run and commit that made it. Ask it at /v2/models/<name>/infer through the cluster's ingress.

The server in the pod takes no token (MLC_SERVE_AUTH=none): authentication is the cluster's, in front of it (KServe
behind Knative and Istio, an AuthorizationPolicy, your gateway). A cluster that authenticates nothing serves the
model to whoever reaches its ingress.

  --registry REG  the registry whose digest to pin, when the model was pushed to several
  --name N        the InferenceService's name, and the model's in /v2/models/N (default: the model's repository,
                  e.g. digits-model; at most 47 characters)
  --gpus N        nvidia.com/gpu for the predictor (default: 0, a CPU pod)
  --out DIR       where to write the manifest (default: .)
  --force         replace an existing manifest that differs (the same name for the next run's model)
  --apply         then run \`kubectl apply -f\` on it (kubectl's current context and namespace; KServe installed)
  --json          print {"file", "name", "image": the pinned reference, "applied"} (kubectl's own output goes to stderr)
  --host URL      Docker host instead of DOCKER_HOST / the docker context

The cluster pulls the model from its registry: push it first (mlc push MODEL --registry REG). The name stays the
same from one model to the next, so \`kubectl apply\` of a newer model's export rolls the service over to it.`;

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

export async function exportKserve(args: string[], io: CliIO, signal: AbortSignal, fakes: Partial<ExportK8sDeps> = {}): Promise<number> {
  const deps = { ...machineDeps(io), ...fakes };
  const { values, positionals } = parseArgs({
    args,
    options: {
      registry: { type: 'string' },
      name: { type: 'string' },
      gpus: { type: 'string' },
      out: { type: 'string', default: '.' },
      force: { type: 'boolean', default: false },
      apply: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [modelRef, ...rest] = positionals;
  if (!modelRef || rest.length) {
    throw new UsageError('usage: mlc export kserve MODEL [--registry REG] [--name N] [--gpus N] [--out DIR] [--apply]');
  }
  if (values.gpus !== undefined && !/^\d+$/.test(values.gpus)) {
    throw new UsageError(`--gpus takes a whole number, not "${values.gpus}".`);
  }
  const gpus = values.gpus === undefined ? 0 : Number(values.gpus);
  const nameProblem = values.name !== undefined ? serviceNameProblem(values.name) : undefined;
  if (nameProblem) throw new UsageError(nameProblem);

  const engine = deps.engine(values.host);
  const image = await engine.inspectImage(modelRef, signal);
  if (!image)
    return refuse(
      io,
      values.json,
      `No image ${shownValue(modelRef)} in this engine: \`mlc models\` lists the model images (save one with \`mlc model save RUN\`).`,
    );
  const refusal = kserveRefusal(modelRef, image);
  if (refusal) return refuse(io, values.json, refusal);

  // Podman gives local images RepoDigests too: there, only the digests a registry gave `mlc push` count.
  const podman = (await engine.version(signal)).isPodman;
  const digests = registryDigests(image.repoDigests, podman, podman ? await recordedPushes(deps.pushRecord, image.id) : []);
  let pinnedRef: string;
  try {
    pinnedRef = pinnedReference(modelRef, digests, values.registry);
  } catch (e) {
    if (!(e instanceof K8sExportError)) throw e;
    return refuse(io, values.json, e.message);
  }
  const facts = readModelLabels(image.labels);
  if (facts?.dirty)
    io.err(
      `note: ${shownValue(modelRef)} was trained from uncommitted changes${facts.commit ? ` on top of ${facts.commit.slice(0, 7)}` : ''}.`,
    );

  const name = values.name ?? defaultServiceName(modelRef, image);
  let manifest: K8sObject;
  try {
    manifest = kserveManifest({ imageRef: modelRef, pinnedRef, labels: image.labels, name, gpus });
  } catch (e) {
    if (!(e instanceof KServeExportError)) throw e;
    return refuse(io, values.json, e.message);
  }
  const file = path.resolve(values.out, kserveFileName(name));
  const refused = await writeGenerated(file, toYaml([manifest]), values.force);
  if (refused) return refuse(io, values.json, refused);
  const report = (applied: boolean): string => JSON.stringify({ file, name, image: pinnedRef, applied });
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
    return refuse(
      io,
      values.json,
      `kubectl apply failed (exit ${String(applied.status)}, its message above): check \`kubectl config current-context\`; an InferenceService needs KServe installed in the cluster. The manifest stays at ${file}.`,
    );
  }
  io.err(`Next: kubectl get inferenceservice ${name}  (READY True, then POST /v2/models/${name}/infer at its URL)`);
  if (values.json) io.out(report(true));
  return 0;
}
