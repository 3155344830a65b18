import { isRecord } from '../../json';
import type { IncomingMessage } from 'node:http';
import type { EngineInfo, EnginePing, EngineVersion } from '../engine';
import type { DockerConnection } from './client';
import { withSignal } from './client';
import { num, record, str } from './parse';

/**
 * GET /_ping, read for its headers (dockerode's ping() returns only the body). Its answer also says whether the engine
 * is Podman: a ping in flight is that question's answer too, so a first image call beside it does not ping again.
 */
export function ping(conn: DockerConnection, signal?: AbortSignal): Promise<EnginePing> {
  const asked = askPing(conn, signal);
  conn.podman ??= podmanOf(conn, asked);
  return asked;
}

async function askPing(conn: DockerConnection, signal?: AbortSignal): Promise<EnginePing> {
  const res = await conn.call(
    (d) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        d.modem.dial(
          { path: '/_ping?', method: 'GET', isStream: true, abortSignal: signal, statusCodes: { 200: true, 500: 'server error' } },
          (err: unknown, r: unknown) => (err ? reject(err) : resolve(r as IncomingMessage)),
        );
      }),
  );
  res.resume();
  const facts = pingFacts(res.headers);
  if (facts.apiVersion) return facts;
  // Something between us and the engine (a proxy) kept the headers: /version says the same, one call slower.
  const v = await version(conn, signal);
  return { apiVersion: v.apiVersion, osType: v.os, isPodman: v.isPodman, version: v.version };
}

export function pingFacts(headers: Record<string, string | string[] | undefined>): EnginePing {
  const header = (name: string): string => {
    const v = headers[name];
    return (Array.isArray(v) ? v[0] : v)?.trim() ?? '';
  };
  const libpod = header('libpod-api-version');
  return {
    apiVersion: header('api-version'),
    osType: header('ostype') || (libpod ? 'linux' : ''),
    isPodman: libpod !== '',
    version: libpod || (/^[^/\s]+\/(\S+)/.exec(header('server'))?.[1] ?? ''),
  };
}

export async function version(conn: DockerConnection, signal?: AbortSignal): Promise<EngineVersion> {
  const raw: unknown = await conn.call((d) => withSignal(d.version.bind(d), signal));
  const v = record(raw, 'version');
  const components = Array.isArray(v.Components) ? v.Components.filter(isRecord).map((c) => str(c.Name)) : [];
  const platformName = isRecord(v.Platform) ? str(v.Platform.Name) : '';
  return {
    version: str(v.Version),
    apiVersion: str(v.ApiVersion),
    ...(v.MinAPIVersion ? { minApiVersion: str(v.MinAPIVersion) } : {}),
    os: str(v.Os),
    arch: str(v.Arch),
    ...(v.KernelVersion ? { kernelVersion: str(v.KernelVersion) } : {}),
    ...(platformName ? { platformName } : {}),
    components,
    isPodman: components.some((c) => /podman/i.test(c)) || /podman/i.test(platformName),
  };
}

export async function info(conn: DockerConnection, signal?: AbortSignal): Promise<EngineInfo> {
  const raw: unknown = await conn.call((d) => withSignal(d.info.bind(d), signal));
  const i = record(raw, 'info');
  const securityOptions = Array.isArray(i.SecurityOptions) ? i.SecurityOptions.map(str) : [];
  return {
    name: str(i.Name),
    serverVersion: str(i.ServerVersion),
    storageDriver: str(i.Driver),
    operatingSystem: str(i.OperatingSystem),
    osType: str(i.OSType),
    architecture: str(i.Architecture),
    cpus: num(i.NCPU),
    memTotal: num(i.MemTotal),
    ...(i.CgroupVersion ? { cgroupVersion: str(i.CgroupVersion) } : {}),
    ...(i.DefaultRuntime ? { defaultRuntime: str(i.DefaultRuntime) } : {}),
    runtimes: isRecord(i.Runtimes) ? Object.keys(i.Runtimes).sort() : [],
    cdiSpecDirs: Array.isArray(i.CDISpecDirs) ? i.CDISpecDirs.map(str) : [],
    discoveredDevices: Array.isArray(i.DiscoveredDevices)
      ? i.DiscoveredDevices.filter(isRecord).map((d) => ({ source: str(d.Source), id: str(d.ID) }))
      : [],
    rootless: securityOptions.some((o) => o.includes('rootless')),
  };
}

/**
 * Whether the engine is Podman, asked once per connection: Podman reports image names fully qualified
 * (`docker.io/library/x:t`, `localhost/x:t`), which the image calls turn into the names Docker shows.
 */
export function isPodman(conn: DockerConnection, signal?: AbortSignal): Promise<boolean> {
  return (conn.podman ??= podmanOf(conn, askPing(conn, signal)));
}

/** What a ping says of Podman, kept on the connection; a ping that failed is asked again next time. */
function podmanOf(conn: DockerConnection, asked: Promise<EnginePing>): Promise<boolean> {
  const podman = asked.then((facts) => facts.isPodman);
  podman.catch(() => {
    if (conn.podman === podman) conn.podman = undefined;
  });
  return podman;
}
