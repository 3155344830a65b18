import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { REGISTRY_MIRROR_ENV } from '../../src/core/scaffold/latestTags';
import { parseJsonc } from '../../src/core/scaffold/mergeDevcontainer';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { STANDIN_DEBIAN, requireEngine, requireImage } from './harness';
import type { TestRegistry } from './registry';
import { requireTestRegistry, startRegistry, tagsList } from './registry';

const PINNED = 'pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime';
// What the registry holds of pytorch/pytorch; the newest of the catalog's shape is 2.15.0 (2.9.0 is older by
// number, not by text; the others differ in CUDA or flavour).
const TAGS = [
  '2.9.0-cuda13.0-cudnn9-runtime',
  '2.14.1-cuda13.0-cudnn9-runtime',
  '2.15.0-cuda13.0-cudnn9-runtime',
  '2.16.0-cuda12.8-cudnn9-runtime',
  '2.15.1-cuda13.0-cudnn9-devel',
];

describe('mlc init --latest against a real registry standing in for Docker Hub (docker-registry 2.8)', function () {
  this.timeout(300_000);
  let engine: Engine;
  let tools: { registry: string; htpasswd: string };
  const registries: TestRegistry[] = [];
  const refs: string[] = [];
  const dirs: string[] = [];

  const project = (): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-latest-'));
    dirs.push(dir);
    return dir;
  };
  const baseImage = (dir: string): string => {
    const config = parseJsonc(fs.readFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), 'utf8'), 'devcontainer.json');
    return (config.build as { args: Record<string, string> }).args.BASE_IMAGE ?? '';
  };

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    tools = await requireTestRegistry(this, engine);
    assertBuiltCli();
  });

  after(async () => {
    for (const r of registries) await r.stop().catch(() => undefined);
    // Untags only: the stand-in keeps its own name.
    for (const ref of refs) await engine?.removeImage(ref).catch(() => undefined);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('picks the newest tag of the catalog default on the registry and writes it', async () => {
    const registry = await startRegistry(tools);
    registries.push(registry);
    for (const tag of TAGS) {
      // Named after this registry's free port: another run's tags never collide with these.
      await engine.tagImage(STANDIN_DEBIAN, `${registry.host}/pytorch/pytorch`, tag);
      refs.push(`${registry.host}/pytorch/pytorch:${tag}`);
      await engine.pushImage(`${registry.host}/pytorch/pytorch:${tag}`, undefined);
    }
    assert.deepEqual(await tagsList(registry, 'pytorch/pytorch'), [...TAGS].sort());

    const dir = project();
    const r = await mlc(['init', '--preset', 'pytorch', '--variant', 'gpu', '--latest', '--dir', dir], {
      env: { [REGISTRY_MIRROR_ENV]: registry.host },
    });
    assert.equal(r.code, 0, r.stderr);
    const newest = 'pytorch/pytorch:2.15.0-cuda13.0-cudnn9-runtime';
    assert.deepEqual(r.stdout.split('\n').slice(0, 2), [
      `PyTorch 2.15.0 (gpu) on ${newest}, CUDA 13.0`,
      `Newest matching tag on ${registry.host}: ${newest} (the catalog pins ${PINNED}).`,
    ]);
    assert.equal(baseImage(dir), newest);
  });

  it('keeps the pinned default, saying why, when the registry wants credentials or does not answer', async () => {
    const locked = await startRegistry(tools, { name: 'mlc', password: `pw-${randomBytes(8).toString('hex')}` });
    registries.push(locked);
    const down = await startRegistry(tools);
    await down.stop();

    const cases: [string, string][] = [
      [locked.host, 'the registry asks for credentials, and only anonymous lookups are made'],
      [down.host, `${down.host} could not be reached (ECONNREFUSED)`],
    ];
    for (const [host, why] of cases) {
      const dir = project();
      const r = await mlc(['init', '--preset', 'pytorch', '--variant', 'gpu', '--latest', '--dir', dir], {
        env: { [REGISTRY_MIRROR_ENV]: host },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.split('\n')[1], `Using the catalog's pinned ${PINNED}: ${why}.`);
      assert.equal(baseImage(dir), PINNED);
    }
  });
});
