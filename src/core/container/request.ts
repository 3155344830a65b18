// A container for this image and this workspace: the one place its create request is built. Jupyter and runs add
// only their own command, env, mounts and ports; every other form (the copied `docker run` command) is rendered
// from the request this returns.
import type { ContainerCreateRequest, ContainerHostConfig, ImageDetails } from '../docker/engine';
import {
  GPU_LABEL,
  IMAGE_ID_LABEL,
  IMAGE_REF_LABEL,
  MANAGED_LABEL,
  REVISION_LABEL,
  ROLE_LABEL,
  TITLE_LABEL,
  WORKSPACE_LABEL,
  readProvenance,
} from '../labels';
import { imageBaseName } from '../reference';
import type { Catalog } from '../scaffold/catalog';
import { presetFacts } from '../scaffold/presetFacts';
import type { GpuDecision } from './gpu';
import type { HostUser } from './hostUser';
import type { RuntimeSettings } from './runtime';
import { grantedImageRuntime } from './imagePrivileges';
import { fillContainerEnv } from './runtime';
import { WORKSPACE_IN_CONTAINER, workspaceBinds } from './workspace';

/**
 * CPU means CPU: an image may set NVIDIA_VISIBLE_DEVICES=all (pytorch/pytorch does) and an engine may run the
 * nvidia runtime by default, which then hands out every GPU without a DeviceRequest. `void` makes the toolkit give
 * none, whatever the image says.
 */
export const NO_GPU_ENV = { name: 'NVIDIA_VISIBLE_DEVICES', value: 'void' } as const;

/** What one container is for, as its role label says: Jupyter, an experiment run, or a user's shell. */
export type ContainerRole = 'jupyter' | 'run' | 'shell';

/** Everything a container is made from; `containerRequest` turns it into the engine's create request. */
export interface ContainerSpec {
  role: ContainerRole;
  /** The container's name; none lets the engine pick one. */
  name?: string;
  /** The image as the user named it, and what the engine says of it (the container is pinned to its id). */
  image: { ref: string; details: ImageDetails };
  /** Host folder of the project: labelled, and mounted at /workspace unless `mountWorkspace` is false. */
  workspace: string;
  mountWorkspace?: boolean;
  decision: GpuDecision;
  shmSizeBytes: number;
  /**
   * The words after the image. With `script`, they are the script's arguments ("$@"); without, the command itself,
   * run by the image's own ENTRYPOINT as `docker run IMAGE CMD` would (an empty list keeps the image's CMD too).
   */
  args: string[];
  /** A shell script to run instead of the image's ENTRYPOINT (in a login shell where the image's preset asks for one). */
  script?: string;
  /** The role's own environment, before the variables every container gets. */
  env?: string[];
  /** The role's own labels, beside the base labels. */
  labels?: Record<string, string>;
  /** The role's own bind mounts, after the workspace's. */
  binds?: string[];
  /** Container ports ("8888/tcp") to publish on the host's 127.0.0.1, on a port the engine picks. */
  publish?: string[];
  /** The engine refused memlock=-1 (rootless, sandboxes): keep its default. */
  dropMemlock?: boolean;
  /**
   * Send no Ulimits at all: an engine that replaces its default limits with the ones sent (Podman) refused one it
   * cannot raise (nofile, nproc), so the container starts with the engine's defaults.
   */
  dropUlimits?: boolean;
  /** devcontainer.json's env, mounts, runArgs and user, and the user's own (core/container/runtime.ts). */
  runtime?: RuntimeSettings;
  /** Run as the workspace's owner instead of the image's user (updateRemoteUserUID, core/container/hostUser.ts). */
  hostUser?: HostUser;
  /** The preset catalog that says what the image's preset needs (a login shell); none: the one shipped with mlc. */
  catalog?: Catalog;
}

/** Whether commands in this image's containers run in a login shell: its preset's catalog entry says (`loginShell`). */
export function needsLoginShell(details: ImageDetails, catalog?: Catalog): boolean {
  return presetFacts(details.labels, catalog).loginShell;
}

/** The image's title label, else its repository's last path component (`p` for `localhost:5000/p:t`). */
export function imageTitle(ref: string, details: ImageDetails): string {
  return readProvenance(details.labels).title ?? imageBaseName(ref);
}

/**
 * The create request, built without side effects so tests can read every field. Throws ImagePrivilegesError where
 * the image's devcontainer.metadata asks for privileges the user has not agreed to (imagePrivileges.ts).
 */
export function containerRequest(spec: ContainerSpec): ContainerCreateRequest {
  const { details } = spec.image;
  const loginShell = needsLoginShell(details, spec.catalog);
  const script = spec.script ?? (loginShell ? 'exec "$@"' : undefined);
  const ports = spec.publish ?? [];
  const runtime = spec.runtime;
  const user = spec.hostUser?.user ?? runtime?.user;
  // The image's Features first (what they need to work), then devcontainer.json and the user's own. What the image
  // asks beyond the project's Features throws here unless agreed to: no request of any role or form goes without.
  const features = grantedImageRuntime(spec.image, spec.workspace, runtime?.imageConsent);
  const mounts = [...features.mounts, ...(runtime?.mounts ?? [])];
  const capAdd = [...new Set([...features.capAdd, ...(runtime?.capAdd ?? [])])];
  const securityOpt = [...new Set([...features.securityOpt, ...(runtime?.securityOpt ?? [])])];
  const privileged = features.privileged || runtime?.privileged === true;
  return {
    ...(spec.name ? { name: spec.name } : {}),
    Image: details.id,
    ...(script ? { Entrypoint: [...(loginShell ? ['/bin/bash', '-lc'] : ['/bin/sh', '-c']), script, `mlc-${spec.role}`] } : {}),
    Cmd: spec.args,
    Env: containerEnv(spec),
    WorkingDir: WORKSPACE_IN_CONTAINER,
    ...(user ? { User: user } : {}),
    Labels: {
      [MANAGED_LABEL]: 'true',
      [ROLE_LABEL]: spec.role,
      [WORKSPACE_LABEL]: spec.workspace,
      [IMAGE_ID_LABEL]: details.id,
      [IMAGE_REF_LABEL]: spec.image.ref,
      [GPU_LABEL]: gpuLabel(spec.decision),
      ...(details.labels[REVISION_LABEL] ? { [REVISION_LABEL]: details.labels[REVISION_LABEL] } : {}),
      ...(details.labels[TITLE_LABEL] ? { [TITLE_LABEL]: details.labels[TITLE_LABEL] } : {}),
      ...spec.labels,
    },
    ...(ports.length ? { ExposedPorts: Object.fromEntries(ports.map((p) => [p, {}])) } : {}),
    HostConfig: {
      Binds: [...(spec.mountWorkspace === false ? [] : workspaceBinds(spec.workspace)), ...(spec.binds ?? []), ...(runtime?.binds ?? [])],
      ...(mounts.length ? { Mounts: mounts.map((m) => ({ ...m })) } : {}),
      // HostPort "" lets the engine pick a free port: no race with other processes, and right for any engine.
      ...(ports.length ? { PortBindings: Object.fromEntries(ports.map((p) => [p, [{ HostIp: '127.0.0.1', HostPort: '' }]])) } : {}),
      // Ctrl-C and stop reach the command through an init process, so training code can save and exit.
      Init: true,
      ...limitsHostConfig(spec),
      ...(capAdd.length ? { CapAdd: capAdd } : {}),
      ...(securityOpt.length ? { SecurityOpt: securityOpt } : {}),
      ...(privileged ? { Privileged: true } : {}),
      ...(runtime?.ipc ? { IpcMode: runtime.ipc } : {}),
    },
  };
}

/**
 * The role's variables win over the project's (MLC_CONFIG, JUPYTER_TOKEN), and the CPU guard over both; one entry
 * per name. ${containerEnv:VAR} in remoteEnv is filled from the image's variables and those before it.
 */
function containerEnv(spec: ContainerSpec): string[] {
  const known = new Map(spec.image.details.env.map((e) => [e.slice(0, Math.max(0, e.indexOf('='))), e.slice(e.indexOf('=') + 1)] as const));
  const vars = new Map<string, string>();
  const set = (entry: string): void => {
    const eq = entry.indexOf('=');
    vars.delete(entry.slice(0, eq));
    vars.set(entry.slice(0, eq), entry.slice(eq + 1));
  };
  for (const v of spec.runtime?.env ?? []) {
    const value = fillContainerEnv(v.value, new Map([...known, ...vars]));
    set(`${v.name}=${value}`);
  }
  if (spec.hostUser) set(`HOME=${spec.hostUser.home}`);
  for (const e of spec.env ?? []) set(e);
  if (spec.decision.mode === 'cpu') set(`${NO_GPU_ENV.name}=${NO_GPU_ENV.value}`);
  if (!vars.has('PYTHONUNBUFFERED')) set('PYTHONUNBUFFERED=1');
  return [...vars].map(([k, v]) => `${k}=${v}`);
}

/** Does this request ask for an unlimited memlock (the GPU limits, or runArgs --ulimit memlock=-1)? */
export function asksUnlimitedMemlock(spec: ContainerSpec): boolean {
  return (limitsHostConfig({ ...spec, dropMemlock: false }).Ulimits ?? []).some(
    (u) => u.Name === 'memlock' && (u.Soft === -1 || u.Hard === -1),
  );
}

/** GPU devices and limits, with runArgs' --ulimit (theirs win by name), --device and --shm-size beside them. */
function limitsHostConfig(spec: ContainerSpec): GpuHostConfig {
  const runtime = spec.runtime;
  const gpu = gpuHostConfig(spec.decision, runtime?.shmSizeBytes ?? spec.shmSizeBytes, spec.dropMemlock);
  // Any Ulimits replace all of Podman's defaults: where it refused one, none go (the engine's own limits apply).
  const podmanDrop = (spec.dropMemlock && spec.decision.mode === 'gpu' && spec.decision.podman) || spec.dropUlimits === true;
  const own = (runtime?.ulimits ?? []).filter((u) => !(spec.dropMemlock && u.Name === 'memlock'));
  const ulimits = podmanDrop ? [] : [...(gpu.Ulimits ?? []).filter((u) => !own.some((o) => o.Name === u.Name)), ...own];
  const devices = [...(gpu.Devices ?? []), ...(runtime?.devices ?? []).map((d) => ({ ...d }))];
  const out: GpuHostConfig = { ...gpu };
  delete out.Ulimits;
  delete out.Devices;
  return { ...out, ...(ulimits.length ? { Ulimits: ulimits } : {}), ...(devices.length ? { Devices: devices } : {}) };
}

/** The HostConfig fields a container's GPU choice and limits set. */
export type GpuHostConfig = Pick<ContainerHostConfig, 'DeviceRequests' | 'Devices' | 'ShmSize' | 'Ulimits'>;

/** `--gpus all` / `--gpus device=0,1` as the docker CLI sends them (Driver "" lets the engine pick nvidia). */
export function deviceRequests(devices: 'all' | string[]): NonNullable<GpuHostConfig['DeviceRequests']> {
  return devices === 'all'
    ? [{ Driver: '', Count: -1, Capabilities: [['gpu']] }]
    : [{ Driver: '', DeviceIDs: devices, Capabilities: [['gpu']] }];
}

/** CDI names: nvidia.com/gpu=all, nvidia.com/gpu=0, nvidia.com/gpu=GPU-… */
export function cdiNames(devices: 'all' | string[]): string[] {
  return (devices === 'all' ? ['all'] : devices).map((d) => `nvidia.com/gpu=${d}`);
}

/** Docker (>= 25) takes CDI names as DeviceRequests with the "cdi" driver; Podman as Devices. */
export function cdiHostConfig(devices: 'all' | string[], podman: boolean): GpuHostConfig {
  const names = cdiNames(devices);
  return podman
    ? { Devices: names.map((n) => ({ PathOnHost: n, PathInContainer: '', CgroupPermissions: '' })) }
    : { DeviceRequests: [{ Driver: 'cdi', DeviceIDs: names }] };
}

/** Pinned host memory (CUDA, NCCL) needs an unlimited memlock; NVIDIA's containers ask for a 64 MB stack. */
export const GPU_ULIMITS: NonNullable<GpuHostConfig['Ulimits']> = [
  { Name: 'memlock', Soft: -1, Hard: -1 },
  { Name: 'stack', Soft: 67108864, Hard: 67108864 },
];

/** The decision's devices and limits; `dropMemlock` keeps the engine's memlock when it refused to lift it. */
export function gpuHostConfig(decision: GpuDecision, shmSizeBytes: number, dropMemlock = false): GpuHostConfig {
  const base: GpuHostConfig = { ShmSize: shmSizeBytes };
  if (decision.mode === 'cpu') return base;
  const devices =
    decision.via === 'cdi' ? cdiHostConfig(decision.devices, decision.podman) : { DeviceRequests: deviceRequests(decision.devices) };
  // Any Ulimits replace all of Podman's defaults (default_ulimits in containers.conf), so without memlock none go there.
  if (dropMemlock && decision.podman) return { ...base, ...devices };
  return { ...base, ...devices, Ulimits: dropMemlock ? GPU_ULIMITS.filter((u) => u.Name !== 'memlock') : GPU_ULIMITS };
}

/** "none", "all" or "0,1": how a container's GPUs are labelled and recorded. */
export function gpuLabel(decision: GpuDecision): string {
  return decision.mode === 'cpu' ? 'none' : decision.devices === 'all' ? 'all' : decision.devices.join(',');
}
