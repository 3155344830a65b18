// Charliecloud for Slurm tasks where the nodes have no Docker: the image, pinned by id, is converted once on the
// submit host (`ch-convert -i docker`) into a directory image under .mlcontainers/charliecloud/, which the nodes see
// through the shared filesystem; each task then runs `ch-run` of that directory with the same binds, variables,
// working directory and command as the `docker run` of a local run, rendered here from the same create request.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ContainerCreateRequest, ImageDetails } from '../../docker/engine';
import type { Logger } from '../../log';
import type { Exec } from './runtime';
import { assertRefNamesImage, exec, taskCommand } from './runtime';
import { SlurmError } from './slurm';
import { shortImageId } from '../../reference';

/** Where converted images live, relative to the workspace; one folder per image id. */
export const CHARLIECLOUD_DIR = path.join('.mlcontainers', 'charliecloud');

/** The directory image of this image id: .mlcontainers/charliecloud/<hex id>. */
export function charliecloudImageDir(workspace: string, imageId: string): string {
  return path.join(workspace, CHARLIECLOUD_DIR, imageId.replace(/^sha256:/, ''));
}

export interface ChRunArgs {
  /** The words after `ch-run`, the image directory and `--` included. */
  args: string[];
  /** Variables the task keeps from its own environment (the secrets, by name): ch-run passes them through. */
  inherit: string[];
  /** The binds: ch-run 0.31 needs each destination to exist in the image, as a file where the source is one. */
  mountPoints: { source: string; target: string }[];
}

/**
 * The create request as `ch-run` words. ch-run starts from the caller's environment: the task script clears it but
 * for the secrets (named in `inherit`), and these words set the image's variables, then the request's, as docker
 * would (`--env-no-expand`: a `$` in a value stays as it is). ch-run runs no ENTRYPOINT of its own: the image's (or
 * the request's) is put before the command here, as `docker run IMAGE CMD` would. It runs as the submitting user,
 * so the request's User is not used; ch-run 0.31 binds are read-write, so a `:ro` bind is not read-only.
 */
export function toChRunArgs(
  request: ContainerCreateRequest,
  image: ImageDetails,
  imageDir: string,
  o: { secretEnv?: ReadonlySet<string> } = {},
): ChRunArgs {
  const host = request.HostConfig ?? {};
  const binds: { source: string; target: string }[] = [];
  for (const b of host.Binds ?? []) {
    const [source = '', target = source] = b.split(':');
    if (!path.isAbsolute(source))
      throw new SlurmError(
        `Charliecloud mounts host folders only, not the volume "${source}": use a bind mount (an absolute host path) or --runtime docker.`,
      );
    binds.push({ source, target });
  }
  for (const m of host.Mounts ?? []) {
    if (m.Type !== 'bind')
      throw new SlurmError(
        `Charliecloud cannot mount a ${m.Type} at ${m.Target}: use a bind mount (an absolute host path) or --runtime docker.`,
      );
    binds.push({ source: m.Source, target: m.Target });
  }
  const env = new Map<string, string>();
  for (const e of [...image.env, ...(request.Env ?? [])]) {
    const eq = e.indexOf('=');
    env.delete(e.slice(0, eq));
    env.set(e.slice(0, eq), e.slice(eq + 1));
  }
  const secret = (name: string): boolean => !!o.secretEnv?.has(name);
  const command = taskCommand(request, image);
  return {
    args: [
      ...binds.flatMap((b) => ['-b', `${b.source}:${b.target}`]),
      // ch-run needs $USER to start; the container gets it only where the image or the request sets it.
      '--unset-env=USER',
      '--env-no-expand',
      ...[...env].filter(([k]) => !secret(k)).map(([k, v]) => `--set-env=${k}=${v}`),
      ...(request.WorkingDir ? ['--cd', request.WorkingDir] : []),
      imageDir,
      '--',
      ...command,
    ],
    inherit: [...env.keys()].filter(secret),
    mountPoints: binds,
  };
}

/** The marker a finished conversion leaves in its image: the image id it was made from. */
const MARKER = path.join('ch', 'mlc-image-id');

/**
 * The image as a Charliecloud directory image, converted from `ref` (which must name `image.id` on the engine the
 * docker CLI reaches: ch-convert reads images by name) unless a finished conversion of that id is already there.
 * A conversion goes to a temporary folder renamed into place, so a crashed one is never taken for finished. The bind
 * destinations are made in the image (ch-run 0.31 cannot create them in a read-only image).
 */
export async function charliecloudImage(o: {
  workspace: string;
  image: ImageDetails;
  ref: string;
  mountPoints: readonly { source: string; target: string }[];
  log: Logger;
  signal?: AbortSignal;
  exec?: Exec;
}): Promise<string> {
  const run = o.exec ?? exec;
  const dir = charliecloudImageDir(o.workspace, o.image.id);
  const converted = await fs.readFile(path.join(dir, MARKER), 'utf8').then(
    (t) => t.trim() === o.image.id,
    () => false,
  );
  if (converted) {
    o.log.info(`Charliecloud image: ${path.relative(o.workspace, dir)} (converted before from ${shortImageId(o.image.id)})`);
  } else {
    const tmp = `${dir}.tmp-${process.pid}`;
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.mkdir(path.dirname(dir), { recursive: true });
    o.log.info(`converting ${o.ref} to a Charliecloud image in ${path.relative(o.workspace, dir)} (ch-convert, once per image)`);
    const opts = o.signal ? { signal: o.signal } : {};
    // ch-convert reads the image by name: the name must stay on this id until the conversion is done.
    const pinned = (): Promise<void> => assertRefNamesImage(run, o.ref, o.image.id, opts);
    try {
      await pinned();
      await run('ch-convert', ['-i', 'docker', o.ref, tmp], opts);
      await pinned();
      await fs.writeFile(path.join(tmp, MARKER), `${o.image.id}\n`);
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rename(tmp, dir);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      if (err.code === 'ENOENT')
        throw new SlurmError(
          `${err.path ?? 'ch-convert'} is not on PATH: Charliecloud's ch-convert converts the image once, through the docker CLI (Debian: charliecloud-builders); install them here, or use --runtime docker.`,
        );
      if (err.name === 'AbortError' || e instanceof SlurmError) throw e;
      const said = (err.stderr ?? err.message).trim().split('\n').filter(Boolean).pop() ?? '';
      throw new SlurmError(
        `Could not convert ${o.ref} for Charliecloud (${said}): ch-convert reads the image through the docker CLI, so \`docker image ls ${o.ref}\` must list it on this host.`,
      );
    }
  }
  for (const m of o.mountPoints) {
    const at = path.join(dir, m.target);
    if (
      await fs.stat(m.source).then(
        (s) => s.isFile(),
        () => false,
      )
    ) {
      await fs.mkdir(path.dirname(at), { recursive: true });
      await fs.writeFile(at, '', { flag: 'a' });
    } else {
      await fs.mkdir(at, { recursive: true });
    }
  }
  return dir;
}
