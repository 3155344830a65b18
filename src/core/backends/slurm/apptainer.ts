// Apptainer (or Singularity) for Slurm tasks where the nodes have no Docker: the image, pinned by id, is built once on
// the submit host into .mlcontainers/apptainer/<image id>.sif from the definition `mlc export apptainer` writes
// (core/export/apptainer.ts: Bootstrap docker-daemon, provenance labels, the preset's setup script), which the nodes
// see through the shared filesystem; each task then runs `apptainer exec` of that SIF with the same binds, variables,
// working directory and command as the `docker run` of a local run, rendered here from the same create request.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ContainerCreateRequest, ImageDetails } from '../../docker/engine';
import { apptainerDefinition } from '../../export/apptainer';
import type { Logger } from '../../log';
import type { Exec } from './runtime';
import { apptainerMissing, assertRefNamesImage, exec, taskCommand } from './runtime';
import { SlurmError } from './slurm';
import { shortImageId } from '../../reference';

export type ApptainerTool = 'apptainer' | 'singularity';

/** Where built SIFs live, relative to the workspace; one file per image id. */
export const APPTAINER_DIR = path.join('.mlcontainers', 'apptainer');

/** The SIF of this image id: .mlcontainers/apptainer/<hex id>.sif. */
export function apptainerSifPath(workspace: string, imageId: string): string {
  return path.join(workspace, APPTAINER_DIR, `${imageId.replace(/^sha256:/, '')}.sif`);
}

/** The prefix of the variables Apptainer (or Singularity) sets inside the container, past --cleanenv. */
export function apptainerEnvPrefix(tool: ApptainerTool): string {
  return tool === 'apptainer' ? 'APPTAINERENV_' : 'SINGULARITYENV_';
}

export interface ApptainerArgs {
  /** The words after `apptainer exec`: options, the SIF, the command. */
  args: string[];
  /** NAME=VALUE the container gets (the task script exports each as APPTAINERENV_NAME=VALUE). */
  env: string[];
  /** Variables the container takes from the task's own environment (the secrets, by name). */
  inherit: string[];
}

/**
 * The create request as `apptainer exec` words. `--cleanenv`: the container gets the image's variables and the
 * request's, as with docker, not the job's; the request's go through APPTAINERENV_ (no comma or `$` in a value is
 * reinterpreted, as `--env` would), a secret by name only (its value from the job's environment, which sbatch
 * passed on). `--nv` binds the node's NVIDIA driver, only when the job asked Slurm for GPUs. `--no-home`: the image's
 * home, not the user's, as in docker. Apptainer runs no ENTRYPOINT on exec: the image's (or the request's) is put
 * before the command, as `docker run IMAGE CMD` would. It runs as the submitting user, so the request's User is not
 * used.
 */
export function toApptainerArgs(
  request: ContainerCreateRequest,
  image: ImageDetails,
  sif: string,
  o: { secretEnv?: ReadonlySet<string>; gpu?: boolean } = {},
): ApptainerArgs {
  const host = request.HostConfig ?? {};
  const binds: string[] = [];
  for (const b of host.Binds ?? []) {
    const [source = '', target = source, mode] = b.split(':');
    if (!path.isAbsolute(source))
      throw new SlurmError(
        `Apptainer mounts host folders only, not the volume "${source}": use a bind mount (an absolute host path) or --runtime docker.`,
      );
    binds.push(`${source}:${target}${mode === 'ro' ? ':ro' : ''}`);
  }
  for (const m of host.Mounts ?? []) {
    if (m.Type !== 'bind')
      throw new SlurmError(
        `Apptainer cannot mount a ${m.Type} at ${m.Target}: use a bind mount (an absolute host path) or --runtime docker.`,
      );
    binds.push(`${m.Source}:${m.Target}${m.ReadOnly ? ':ro' : ''}`);
  }
  const secret = (e: string): boolean => !!o.secretEnv?.has(e.slice(0, e.indexOf('=')));
  const env = request.Env ?? [];
  const command = taskCommand(request, image);
  return {
    args: [
      ...(o.gpu ? ['--nv'] : []),
      '--cleanenv',
      '--no-home',
      ...binds.flatMap((b) => ['--bind', b]),
      ...(request.WorkingDir ? ['--pwd', request.WorkingDir] : []),
      sif,
      ...command,
    ],
    env: env.filter((e) => !secret(e)),
    inherit: env.filter(secret).map((e) => e.slice(0, e.indexOf('='))),
  };
}

/**
 * The image as a SIF, built from `ref` (which must name `image.id` on the engine the docker CLI reaches:
 * docker-daemon reads images by name) unless a SIF of that id is already there. The definition is the one `mlc
 * export apptainer` writes, kept beside the SIF; a build goes to a temporary file renamed into place, so a crashed
 * one is never taken for finished.
 */
export async function apptainerImage(o: {
  workspace: string;
  image: ImageDetails;
  ref: string;
  tool: ApptainerTool;
  /** The preset's release setup script, sourced in every shell as in the Docker image. */
  setupScript?: string;
  log: Logger;
  signal?: AbortSignal;
  exec?: Exec;
}): Promise<string> {
  const run = o.exec ?? exec;
  const sif = apptainerSifPath(o.workspace, o.image.id);
  if (
    await fs.stat(sif).then(
      (s) => s.isFile(),
      () => false,
    )
  ) {
    o.log.info(`Apptainer image: ${path.relative(o.workspace, sif)} (built before from ${shortImageId(o.image.id)})`);
    return sif;
  }
  const def = sif.replace(/\.sif$/, '.def');
  const tmp = `${sif}.tmp-${process.pid}`;
  await fs.mkdir(path.dirname(sif), { recursive: true });
  await fs.writeFile(
    def,
    apptainerDefinition({
      imageRef: o.ref,
      source: { kind: 'docker-daemon' },
      labels: o.image.labels,
      ...(o.setupScript ? { setupScript: o.setupScript } : {}),
      warn: (m) => o.log.warn(m),
    }),
  );
  o.log.info(`building ${path.relative(o.workspace, sif)} from ${o.ref} (${o.tool} build, once per image)`);
  const opts = o.signal ? { signal: o.signal } : {};
  try {
    await assertRefNamesImage(run, o.ref, o.image.id, opts);
    await run(o.tool, ['build', '--force', tmp, def], opts);
    await assertRefNamesImage(run, o.ref, o.image.id, opts);
    await fs.rename(tmp, sif);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      throw new SlurmError(
        err.path === 'docker'
          ? `docker is not on PATH: ${o.tool} build reads the image from the docker daemon on this host; install the docker CLI here, or use --runtime docker.`
          : apptainerMissing(o.tool),
      );
    if (err.name === 'AbortError' || e instanceof SlurmError) throw e;
    const said = (err.stderr ?? err.message).trim().split('\n').filter(Boolean).pop() ?? '';
    throw new SlurmError(
      `Could not build a SIF of ${o.ref} (${said}): ${o.tool} build reads the image from the docker daemon, so \`docker image ls ${o.ref}\` must list it on this host and ${o.tool} must be allowed to build (fakeroot, or as root).`,
    );
  }
  return sif;
}
