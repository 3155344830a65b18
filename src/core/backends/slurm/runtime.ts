// How a Slurm task runs its container on the node, chosen on the submit host: Docker, Charliecloud (ch-run of a
// directory image) or Apptainer/Singularity (exec of a SIF); the converted images are made here, once per image id,
// from the image the docker CLI on this host names.
import { execFile } from 'node:child_process';
import type { ContainerCreateRequest, ImageDetails } from '../../docker/engine';
import { SlurmError, commandOnPath } from './slurm';
import { shortImageId } from '../../reference';

/** How a task runs its container on the node; "singularity" is Apptainer under its older name. */
export type SlurmRuntime = 'docker' | 'charliecloud' | 'apptainer' | 'singularity';
export const SLURM_RUNTIMES: readonly SlurmRuntime[] = ['docker', 'charliecloud', 'apptainer', 'singularity'];

/** Runs with a SIF through `apptainer exec` or `singularity exec`. */
export function isApptainer(r: SlurmRuntime | undefined): r is 'apptainer' | 'singularity' {
  return r === 'apptainer' || r === 'singularity';
}

/** The runtime in the one line `mlc run --on slurm` prints. */
export function runtimeTitle(r: SlurmRuntime): string {
  return r === 'docker'
    ? 'docker run'
    : r === 'charliecloud'
      ? 'Charliecloud (ch-run)'
      : `${r === 'apptainer' ? 'Apptainer' : 'Singularity'} (${r} exec)`;
}

export type Exec = (file: string, args: string[], o: { signal?: AbortSignal }) => Promise<{ stdout: string; stderr: string }>;

export const exec: Exec = (file, args, o) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { signal: o.signal, timeout: 60 * 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });

/**
 * ch-convert and `apptainer build docker-daemon://` read the image by name: the name must name the planned id,
 * before and after the conversion (a tag moved meanwhile is refused, never converted under the wrong id).
 */
export async function assertRefNamesImage(run: Exec, ref: string, imageId: string, opts: { signal?: AbortSignal }): Promise<void> {
  const id = (await run('docker', ['image', 'inspect', '--format', '{{.Id}}', ref], opts)).stdout.trim();
  if (id !== imageId)
    throw new SlurmError(
      `${ref} names another image (${shortImageId(id)}) than the one planned (${shortImageId(imageId)}) on the docker CLI's engine: submit again, or pin the run with --image.`,
    );
}

/** What to say when `--runtime apptainer|singularity` is asked and the tool is not here. */
export function apptainerMissing(tool: 'apptainer' | 'singularity'): string {
  return `${tool} is not on PATH: it builds the image's SIF once on this host and runs each task on the nodes, so install Apptainer here and on the nodes (https://apptainer.org/docs/admin/main/installation.html), or submit with --runtime docker or charliecloud.`;
}

/**
 * `--runtime` when given, else Docker when the docker CLI is on PATH and answers, else Apptainer (or Singularity)
 * when on PATH, else Charliecloud when ch-run is there; with none, one sentence naming them.
 */
export async function chooseRuntime(
  given: string | undefined,
  o: { exec?: Exec; onPath?: (command: string) => Promise<boolean>; signal?: AbortSignal; requireTool?: boolean } = {},
): Promise<{ runtime: SlurmRuntime; why: string }> {
  const onPath = o.onPath ?? commandOnPath;
  if (given !== undefined) {
    if (!(SLURM_RUNTIMES as readonly string[]).includes(given))
      throw new SlurmError(`--runtime takes ${SLURM_RUNTIMES.join(', ')}, not "${given}".`);
    const runtime = given as SlurmRuntime;
    if (isApptainer(runtime) && o.requireTool !== false && !(await onPath(runtime))) throw new SlurmError(apptainerMissing(runtime));
    return { runtime, why: 'as --runtime asked' };
  }
  const run = o.exec ?? exec;
  const answers = await run('docker', ['version', '--format', '{{.Server.Version}}'], o.signal ? { signal: o.signal } : {}).then(
    () => true,
    () => false,
  );
  if (answers) return { runtime: 'docker', why: 'docker answers on this host' };
  for (const tool of ['apptainer', 'singularity'] as const) {
    if (await onPath(tool)) return { runtime: tool, why: `docker does not answer here and ${tool} is on PATH` };
  }
  // On PATH is enough: ch-run will not even print its version without $USER.
  if (await onPath('ch-run')) return { runtime: 'charliecloud', why: 'docker does not answer here and ch-run is on PATH' };
  throw new SlurmError(
    'Neither docker, Apptainer (apptainer, singularity) nor Charliecloud (ch-run) is usable on this host: install one of them where the tasks run, or give --runtime docker|apptainer|singularity|charliecloud.',
  );
}

/**
 * What an HPC runtime runs for a task: the request's entrypoint (else the image's), then the request's command
 * (else the image's, unless the request replaced the entrypoint), as `docker run` would.
 */
export function taskCommand(request: ContainerCreateRequest, image: ImageDetails): string[] {
  const entrypoint = request.Entrypoint ?? image.entrypoint ?? [];
  const cmd = request.Cmd?.length ? request.Cmd : request.Entrypoint ? [] : (image.cmd ?? []);
  const command = [...entrypoint, ...cmd];
  if (!command.length) throw new SlurmError('The image has no command to run and none was given: give one after --.');
  return command;
}
