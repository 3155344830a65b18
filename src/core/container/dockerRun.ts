// The create request as `docker run` flags: what "Copy docker run Command" hands the user, rendered from the same
// request Jupyter and runs create, so the two cannot drift.
import { quote } from 'shell-quote';
import type { ContainerCreateRequest, Engine, ImageDetails } from '../docker/engine';
import type { HostGpuProbe } from '../gpu/nvidiaSmi';
import type { Logger } from '../log';
import type { Catalog } from '../scaffold/catalog';
import type { GpuDecision, GpuSetting } from './gpu';
import { GpuUnavailableError, chooseGpu } from './gpu';
import { hostUser } from './hostUser';
import type { ContainerSpec } from './request';
import { asksUnlimitedMemlock, containerRequest } from './request';
import type { RuntimeSettings } from './runtime';
import { NO_RUNTIME } from './runtime';

/**
 * `docker run` with every field of the request that decides what runs and what it sees. Labels are ML Containers'
 * bookkeeping and stay out unless asked for (a batch job's container is ours), so a container the user starts by
 * hand is not taken for one of ours. The first word of the entrypoint goes to `--entrypoint`, the rest after the
 * image, as the CLI splits them.
 */
export function toDockerRunArgs(
  request: ContainerCreateRequest,
  o: { remove?: boolean; interactive?: boolean; labels?: boolean; secretEnv?: ReadonlySet<string> } = {},
): string[] {
  const host = request.HostConfig ?? {};
  const [entrypoint, ...entrypointArgs] = request.Entrypoint ?? [];
  return [
    'docker',
    'run',
    ...(o.remove ? ['--rm'] : []),
    ...(o.interactive ? ['-it'] : []),
    ...(request.name ? ['--name', request.name] : []),
    ...(host.Init ? ['--init'] : []),
    ...(host.DeviceRequests ?? []).flatMap((r) =>
      r.Driver === 'cdi'
        ? (r.DeviceIDs ?? []).flatMap((d) => ['--device', d])
        : ['--gpus', r.DeviceIDs ? `"device=${r.DeviceIDs.join(',')}"` : 'all'],
    ),
    ...(host.Devices ?? []).flatMap((d) => ['--device', [d.PathOnHost, d.PathInContainer, d.CgroupPermissions].filter(Boolean).join(':')]),
    ...(host.Privileged ? ['--privileged'] : []),
    ...(host.CapAdd ?? []).flatMap((c) => ['--cap-add', c]),
    ...(host.SecurityOpt ?? []).flatMap((o) => ['--security-opt', o]),
    ...(host.IpcMode ? [`--ipc=${host.IpcMode}`] : []),
    ...(host.Ulimits ?? []).flatMap((u) => ['--ulimit', `${u.Name}=${u.Soft === u.Hard ? u.Soft : `${u.Soft}:${u.Hard}`}`]),
    ...(host.ShmSize !== undefined ? [`--shm-size=${host.ShmSize}`] : []),
    ...(host.Binds ?? []).flatMap((b) => ['-v', b]),
    ...(host.Mounts ?? []).flatMap((m) => [
      '--mount',
      [`type=${m.Type}`, ...(m.Source ? [`source=${m.Source}`] : []), `target=${m.Target}`, ...(m.ReadOnly ? ['readonly'] : [])].join(','),
    ]),
    ...Object.entries(host.PortBindings ?? {}).flatMap(([port, bindings]) =>
      bindings.flatMap((b) => ['-p', `${b.HostIp ? `${b.HostIp}:` : ''}${b.HostPort}:${port}`]),
    ),
    // A secret goes by name: `-e NAME` takes its value from the environment the line runs in, so the copied text
    // (and the notification showing it) holds none.
    ...(request.Env ?? []).flatMap((e) => ['-e', o.secretEnv?.has(e.slice(0, e.indexOf('='))) ? e.slice(0, e.indexOf('=')) : e]),
    ...(o.labels ? Object.entries(request.Labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]) : []),
    ...(request.WorkingDir ? ['-w', request.WorkingDir] : []),
    ...(request.User ? ['-u', request.User] : []),
    ...(entrypoint !== undefined ? ['--entrypoint', entrypoint] : []),
    request.Image,
    ...entrypointArgs,
    ...(request.Cmd ?? []),
  ];
}

/** The words as one line a POSIX shell reads back into the same words. */
export function shellLine(args: readonly string[]): string {
  return quote([...args]);
}

/**
 * `docker run` for an interactive container of this image and workspace, with the GPUs the preflight
 * allows: the request Start Jupyter would make, less Jupyter. A GPU choice that cannot be honoured becomes a note
 * and the line runs on CPU.
 */
export async function interactiveRunCommand(o: {
  engine: Engine;
  image: { ref: string; details: ImageDetails };
  workspace: string;
  gpu: GpuSetting;
  shmSizeBytes: number;
  /** The command; none keeps the image's. */
  command?: string[];
  catalog?: Catalog;
  probe?: () => Promise<HostGpuProbe>;
  /** The project's runtime settings (runtime.ts); its secret variables go on the line by name only. */
  runtime?: RuntimeSettings;
  log: Logger;
  signal?: AbortSignal;
}): Promise<{ args: string[]; note: string | undefined; env: Record<string, string> }> {
  let decision: GpuDecision = { mode: 'cpu' };
  let note: string | undefined;
  try {
    const choice = await chooseGpu({ ...o, folder: o.workspace });
    decision = choice.decision;
    note = choice.note;
  } catch (e) {
    if (!(e instanceof GpuUnavailableError)) throw e;
    note = e.message;
  }
  const runtime = o.runtime ?? NO_RUNTIME;
  const user = await hostUser(o.engine, o.image.details, runtime, o.workspace, o.signal);
  const spec: ContainerSpec = {
    role: 'shell',
    image: o.image,
    workspace: o.workspace,
    decision,
    shmSizeBytes: o.shmSizeBytes,
    args: o.command ?? [],
    runtime,
    ...(user ? { hostUser: user } : {}),
  };
  // Start Jupyter and runs retry without memlock=-1 when the engine refuses it; a rootless engine always does.
  const dropMemlock = asksUnlimitedMemlock(spec) && (await o.engine.info(o.signal)).rootless;
  const request = containerRequest({ ...spec, dropMemlock });
  const secrets = runtime.env.filter((v) => v.secret);
  // What the terminal running the line needs in its environment (Open Shell passes it; a copied line, the user's shell).
  return {
    args: toDockerRunArgs(request, { remove: true, interactive: true, secretEnv: new Set(secrets.map((v) => v.name)) }),
    note,
    env: Object.fromEntries(secrets.map((v) => [v.name, v.value])),
  };
}
