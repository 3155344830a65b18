// A real registry for the push tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1, which dockerd
// treats as insecure, so plain HTTP works. scripts/test-registry.sh installs it (and htpasswd) on CI.
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { requireKind } from './harness';

const REGISTRY = ['/usr/bin/docker-registry', 'docker-registry'];
const HTPASSWD = ['/usr/bin/htpasswd', 'htpasswd'];

function which(candidates: string[]): string | undefined {
  return candidates.find((c) => spawnSync(c, ['--help'], { stdio: 'ignore' }).error === undefined);
}

/** The registry and htpasswd binaries; skips the suite (fails it on CI) when they are missing. */
function requireRegistryTools(context: Mocha.Context): { registry: string; htpasswd: string } {
  const registry = which(REGISTRY);
  const htpasswd = which(HTPASSWD);
  if (registry && htpasswd) return { registry, htpasswd };
  const message = `${registry ? 'htpasswd' : 'docker-registry'} is missing; run scripts/test-registry.sh (Debian's docker-registry and apache2-utils)`;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${message}`);
  console.log(`      skipped: ${message}`);
  context.skip();
}

/**
 * What the registry tests need: an engine that pushes to and pulls from a plain-HTTP registry on 127.0.0.1 (Docker;
 * Podman is skipped with the reason), and the registry's binaries.
 */
export async function requireTestRegistry(context: Mocha.Context, engine: Engine): Promise<{ registry: string; htpasswd: string }> {
  await requireKind(
    context,
    engine,
    'docker',
    'Podman pushes and pulls over HTTPS unless registries.conf lists the registry as insecure, and the test registries serve plain HTTP on random 127.0.0.1 ports (dockerd trusts 127.0.0.0/8)',
  );
  return requireRegistryTools(context);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface TestRegistry {
  /** 127.0.0.1:<port> */
  host: string;
  /** GET on the registry's HTTP API, with basic auth when the registry has a user. */
  get(pathname: string, headers?: Record<string, string>): Promise<Response>;
  /** Where it stores blobs and uploads in progress (`docker/registry/v2/repositories/<name>/_uploads/`). */
  dataDir: string;
  /** SIGKILL, as a registry host that goes away: no goodbye to the pushes under way. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts docker-registry on a free port; with `user`, behind htpasswd (bcrypt) basic auth. */
export async function startRegistry(
  tools: { registry: string; htpasswd: string },
  user?: { name: string; password: string },
): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let auth = '';
  if (user) {
    fs.writeFileSync(path.join(dir, 'htpasswd'), execFileSync(tools.htpasswd, ['-Bbn', user.name, user.password], { encoding: 'utf8' }));
    auth = `auth:\n  htpasswd:\n    realm: mlc-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  }
  fs.writeFileSync(
    path.join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\nhttp:\n  addr: ${host}\n  secret: mlc-test-only\n${auth}`,
  );
  const child: ChildProcess = spawn(tools.registry, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const authorization: Record<string, string> = user
    ? { Authorization: `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}` }
    : {};
  const get = (pathname: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`http://${host}${pathname}`, { headers: { ...authorization, ...headers } });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  const dataDir = path.join(dir, 'data');
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    const ok = await get('/v2/').then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { host, get, dataDir, kill, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(`docker-registry did not answer on ${host} within 10 s: ${stderr}`);
}

/** The digest the registry holds for name:tag (HEAD on the manifest, as docker pull asks for it). */
export async function manifestDigest(registry: TestRegistry, name: string, tag: string): Promise<string | undefined> {
  const r = await registry.get(`/v2/${name}/manifests/${tag}`, {
    Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
  });
  return r.ok ? (r.headers.get('docker-content-digest') ?? undefined) : undefined;
}

export async function tagsList(registry: TestRegistry, name: string): Promise<string[]> {
  const r = await registry.get(`/v2/${name}/tags/list`);
  if (r.status === 404) return [];
  const body = (await r.json()) as { tags?: string[] | null };
  return [...(body.tags ?? [])].sort();
}
