// Slurm as a run backend (`mlc run --on slurm`, Run Experiment's "Slurm"): a plan becomes one sbatch array job
// (submit.ts), its tasks record their own start and end (tasks.ts, through `mlc slurm-task`), and squeue/sacct
// close the tasks that could not (slurm.ts).
import * as os from 'node:os';
import { runFolderOwner } from '../../container/hostUser';
import { UserError } from '../../errors';
import { presetSetupScript } from '../../export/rules';
import { RunError, planRuntime } from '../../run/plan';
import { readRuns } from '../../run/records';
import { optionalCatalog, templatesDir } from '../../scaffold/templateFiles';
import type { ImageDetails } from '../../docker/engine';
import { loadRegistryAuth } from '../../docker/registryAuth';
import type { RegistryTarget } from '../../push/push';
import { parseRegistryTarget, planPush, pushExperimentImage } from '../../push/push';
import type { BatchBackend, SubmitInput } from '../backend';
import { chooseRuntime, isApptainer, runtimeTitle } from './runtime';
import type { MultiNode, SlurmOptions } from './script';
import { sbatchOptionsProblem } from './script';
import type { Slurm } from './slurm';
import { SlurmCli, commandOnPath, isLive } from './slurm';
import { submitToSlurm } from './submit';
import { SLURM_BACKEND, reconcileSlurmRuns, recordTask, stopSlurmRuns, taskId } from './tasks';

const help = `
On Slurm (--on slurm): the runs become one array job (sbatch --array=1-N%P, P from --parallel); task i runs point i
in \`docker run --init\` of the image pinned by id on the node, with the same mounts, env and labels, and records its
own start and end. The nodes need Docker, the image and this folder at the same path. The script is kept in
.mlcontainers/sweeps/<id>.sbatch; its output goes to each run's output.log. GPUs come from --gres, not --gpu.
With Charliecloud instead, the image is converted once (ch-convert) into .mlcontainers/charliecloud/<image id>/
and each task runs \`ch-run\` of it, with the same binds, env and working directory. With Apptainer (or Singularity),
the image is built once (apptainer build, from the .def \`mlc export apptainer\` writes) into
.mlcontainers/apptainer/<image id>.sif and each task runs \`apptainer exec\` of it (--nv when --gres asks for GPUs).
  --on slurm            submit to Slurm instead of running here; returns once sbatch accepted the job
  --runtime R           docker, apptainer, singularity or charliecloud (default: docker where it answers on this
                        host, else apptainer or singularity where on PATH, else charliecloud where ch-run is)
  --partition P  --time T  --cpus-per-task N  --mem M  --gres G  --account A
                        the sbatch options of the same names, one #SBATCH line each
  --sbatch-arg OPT      another #SBATCH line (repeatable), e.g. --sbatch-arg=--qos=long
  --nodes N             one run across N nodes (sbatch --nodes=N --ntasks-per-node=1): a container on each, on the
                        host's network, given MASTER_ADDR (the first node), MASTER_PORT, NNODES, NODE_RANK and the
                        SLURM_* variables; node r's output in output.r.log, rank 0's also in output.log; a node that
                        fails ends the others and is named on the record. The nodes need the image (or --runtime
                        apptainer/charliecloud, whose image is in this folder) and this folder at the same path
  --push REGISTRY       push the image first (as mlc push --registry REGISTRY does, with your docker credentials)
                        and let a node whose engine lacks it pull it by digest; for --runtime docker
  --launcher torchrun   run the command under torchrun on each node (--nnodes N, a process per GPU of --gres or
                        one on CPU, c10d rendezvous on the first node): \`-- python train.py\` becomes a DDP job`;

/** What `mlc run --on slurm` parsed: the #SBATCH lines, and how the tasks run the image. */
export interface SlurmFlags {
  sbatch: SlurmOptions;
  runtime?: string;
  multiNode?: MultiNode;
  /** `--push`: where the image goes first, for nodes whose engine lacks it. */
  push?: RegistryTarget;
}

type FlagValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** The sbatch flags, checked before a plan is made, so a value #SBATCH cannot hold leaves nothing behind. */
export function slurmOptions(v: FlagValues): SlurmOptions {
  const text = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const cpusText = text('cpus-per-task');
  const cpus = cpusText === undefined ? undefined : Number(cpusText);
  if (cpus !== undefined && !(Number.isInteger(cpus) && cpus >= 1))
    throw new UserError(`--cpus-per-task wants a whole number of CPUs, not "${cpusText}"`);
  const extra = Array.isArray(v['sbatch-arg']) ? v['sbatch-arg'] : [];
  const options: SlurmOptions = {
    ...(text('partition') ? { partition: text('partition') } : {}),
    ...(text('time') ? { time: text('time') } : {}),
    ...(cpus ? { cpusPerTask: cpus } : {}),
    ...(text('mem') ? { mem: text('mem') } : {}),
    ...(text('gres') ? { gres: text('gres') } : {}),
    ...(text('account') ? { account: text('account') } : {}),
    ...(extra.length ? { extra } : {}),
  };
  const problem = sbatchOptionsProblem(options);
  if (problem) throw new UserError(problem);
  return options;
}

/** --nodes and --launcher: undefined for a run on one node without a launcher, as before either existed. */
export function multiNodeOptions(v: FlagValues): MultiNode | undefined {
  const nodesText = typeof v.nodes === 'string' ? v.nodes : undefined;
  const nodes = nodesText === undefined ? 1 : Number(nodesText);
  if (!(Number.isInteger(nodes) && nodes >= 1))
    throw new UserError(`--nodes wants a whole number of nodes, such as --nodes 2, not "${nodesText}"`);
  const launcher = v.launcher;
  if (launcher !== undefined && launcher !== 'torchrun')
    throw new UserError(`--launcher takes torchrun (or give none, and the command launches its own processes), not "${String(launcher)}"`);
  if (nodes === 1 && launcher === undefined) return undefined;
  return { nodes, ...(launcher ? { launcher } : {}) };
}

/**
 * `--push`: the image pushed under its commit tag, as `mlc push` does, and the reference the nodes pull, pinned by
 * digest. An image built from uncommitted changes is pushed too (as <sha7>-dirty): the run's record says dirty, and
 * a run must not be refused for where its image travels. A dry run pushes nothing and names the tag it would.
 */
async function pushForNodes(ref: string, image: ImageDetails, registry: RegistryTarget, o: SubmitInput): Promise<string> {
  const input = { ref, registry, latest: false, allowDirty: true };
  if (o.dryRun) {
    const planned = planPush({ ...input, image });
    return `${planned.repository}:${planned.tags[0]!}`;
  }
  const [pushed] = await pushExperimentImage({
    ...input,
    engine: o.engine,
    credentials: (host) => loadRegistryAuth(host, o.hostEnv, o.hostEnv.HOME || os.homedir(), o.signal),
    onNote: (line) => o.log.info(line),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  o.log.info(`Pushed ${pushed!.reference}: a node whose engine lacks the image pulls it from there.`);
  return pushed!.reference;
}

/** `slurm`: the cluster's commands; unit tests pass a fake of our Slurm interface. */
export function createSlurmBackend(slurm: (options?: SlurmOptions) => Slurm = (options) => new SlurmCli(options)): BatchBackend {
  return {
    id: SLURM_BACKEND,
    title: 'Slurm',
    description: 'one sbatch array job (mlc run --on slurm)',
    available: () => commandOnPath('sbatch'),
    flags: {
      options: {
        runtime: { type: 'string' },
        partition: { type: 'string' },
        time: { type: 'string' },
        'cpus-per-task': { type: 'string' },
        mem: { type: 'string' },
        gres: { type: 'string' },
        account: { type: 'string' },
        'sbatch-arg': { type: 'string', multiple: true },
        nodes: { type: 'string' },
        launcher: { type: 'string' },
        push: { type: 'string' },
      },
      help,
      parse: (v): SlurmFlags => {
        const multiNode = multiNodeOptions(v);
        const push = typeof v.push === 'string' ? parseRegistryTarget(v.push, '--push') : undefined;
        return {
          sbatch: slurmOptions(v),
          ...(typeof v.runtime === 'string' ? { runtime: v.runtime } : {}),
          ...(multiNode ? { multiNode } : {}),
          ...(push ? { push } : {}),
        };
      },
    },
    async submit(plan, o) {
      const flags = (o.options ?? {}) as Partial<SlurmFlags>;
      const options = flags.sbatch ?? {};
      const details = await o.engine.inspectImage(plan.image.id, o.signal);
      if (!details) throw new RunError(`Image ${plan.image.ref} is no longer on this engine: rebuild it.`);
      // A dry run prints the script of the runtime asked for, even where that runtime is not installed.
      const runtime = await chooseRuntime(flags.runtime, { ...(o.signal ? { signal: o.signal } : {}), requireTool: !o.dryRun });
      o.log.info(`Slurm tasks run the image with ${runtimeTitle(runtime.runtime)}: ${runtime.why}.`);
      const setupScript = isApptainer(runtime.runtime)
        ? presetSetupScript(details.labels, await optionalCatalog(templatesDir()))
        : undefined;
      // Refused before anything is pushed: Apptainer's and Charliecloud's image is converted once into this folder.
      if (flags.push && runtime.runtime !== 'docker')
        throw new RunError(
          `--push is for --runtime docker: with ${runtimeTitle(runtime.runtime)} every node reads the image converted once into this folder, so there is nothing to pull; leave --push out.`,
        );
      const settings = await planRuntime(plan.workspace, plan.runtime, o.hostEnv);
      const pull = flags.push ? await pushForNodes(plan.image.ref, details, flags.push, o) : undefined;
      const folderOwner =
        runtime.runtime === 'docker' && !o.dryRun ? await runFolderOwner(o.engine, details, settings, undefined, o.signal) : undefined;
      return submitToSlurm({
        plan,
        image: details,
        runtime: settings,
        ...(folderOwner ? { folderOwner } : {}),
        slurm: slurm(options),
        options,
        ...(flags.multiNode ? { multiNode: flags.multiNode } : {}),
        ...(pull ? { pull } : {}),
        recorder: o.recorder,
        ...(o.host ? { dockerHost: o.host } : {}),
        containerRuntime: runtime.runtime,
        ...(setupScript ? { setupScript } : {}),
        log: o.log,
        dryRun: o.dryRun === true,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    },
    reconcile: (records, o) =>
      reconcileSlurmRuns({ slurm: slurm(), workspace: o.workspace, log: o.log, records, ...(o.signal ? { signal: o.signal } : {}) }),
    async stop(target, o) {
      const records = (await readRuns(o.workspace)).runs.filter((r) => recordTask(r) && (r.id === target || r.sweep?.id === target));
      if (!records.some((r) => r.status === 'running')) return [];
      return stopSlurmRuns({ slurm: slurm(), workspace: o.workspace, target, log: o.log, ...(o.signal ? { signal: o.signal } : {}) });
    },
    async isLive(record, o) {
      const task = recordTask(record);
      if (!task) return false;
      return (await slurm().queue([task.job], o.signal)).some((t) => taskId(t) === taskId(task) && isLive(t.state));
    },
  };
}

export const slurmBackend = createSlurmBackend();
