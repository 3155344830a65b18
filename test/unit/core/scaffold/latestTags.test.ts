import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  REGISTRY_MIRROR_ENV,
  latestTag,
  newestMatching,
  parseBearerChallenge,
  registryApiBase,
} from '../../../../src/core/scaffold/latestTags';
import { mlcInProcess } from '../../../helpers/cli';
import type { FakeRegistry } from '../../../helpers/fakeRegistry';
import { fakeRegistry } from '../../../helpers/fakeRegistry';

const DEFAULT = 'pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime';

const TAGS = [
  '2.14.1-cuda13.0-cudnn9-runtime',
  '2.9.1-cuda13.0-cudnn9-runtime',
  '2.15.0-cuda13.0-cudnn9-devel', // another flavour
  '2.16.0-cuda13.2-cudnn9-runtime', // another CUDA: other drivers, other GPUs
  '2.15.0-cuda13.0-cudnn9-runtime',
  '2.15.0rc1-cuda13.0-cudnn9-runtime', // a release candidate
  'latest',
];

describe('the newest tag of a catalog base (mlc init --latest, New ML Environment)', () => {
  describe('picking from a tag list', () => {
    const cases: [string, string[], string | undefined][] = [
      [
        'a higher minor wins by number, not by text',
        ['2.9.9-cuda13.0-cudnn9-runtime', '2.14.1-cuda13.0-cudnn9-runtime', '2.10.0-cuda13.0-cudnn9-runtime'],
        '2.14.1-cuda13.0-cudnn9-runtime',
      ],
      ['only the same CUDA, cuDNN and flavour count', TAGS, '2.15.0-cuda13.0-cudnn9-runtime'],
      [
        'release candidates and other majors do not count',
        ['2.15.0rc1-cuda13.0-cudnn9-runtime', '3.0.0-cuda13.0-cudnn9-runtime', '2.14.1-cuda13.0-cudnn9-runtime'],
        '2.14.1-cuda13.0-cudnn9-runtime',
      ],
      ['nothing in the pattern', ['latest', '2.14.1-cuda12.8-cudnn9-runtime'], undefined],
    ];
    for (const [name, tags, expected] of cases) {
      it(name, () => {
        assert.equal(newestMatching(tags, '2.14.1-cuda13.0-cudnn9-runtime', '2.14.1')?.tag, expected);
      });
    }

    it('works for other presets: TensorFlow and AnalysisBase tags', () => {
      assert.equal(
        newestMatching(['2.21.0-gpu-jupyter', '2.22.1-gpu-jupyter', '2.22.1-jupyter'], '2.21.0-gpu-jupyter', '2.21.0')?.version,
        '2.22.1',
      );
      assert.equal(newestMatching(['25.2.110', '25.2.99', '25.2.111', 'latest'], '25.2.110', '25.2.110')?.version, '25.2.111');
      assert.equal(
        newestMatching(['3.11-slim', '3.12-slim'], '3.11-slim', '2.14.1'),
        undefined,
        'a tag without the version is never looked up',
      );
    });
  });

  it('reads a Bearer challenge as docker does', () => {
    assert.deepEqual(
      parseBearerChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:pytorch/pytorch:pull"',
      ),
      {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:pytorch/pytorch:pull',
      },
    );
    assert.equal(parseBearerChallenge('Basic realm="x"'), undefined);
  });

  it('asks registry-1.docker.io for Docker Hub, the mirror instead when one is set, and other registries themselves', () => {
    assert.deepEqual(registryApiBase('docker.io', {}), { url: 'https://registry-1.docker.io', mirror: false });
    assert.deepEqual(registryApiBase('docker.io', { [REGISTRY_MIRROR_ENV]: 'mirror.example.org' }), {
      url: 'https://mirror.example.org',
      mirror: true,
    });
    assert.deepEqual(registryApiBase('docker.io', { [REGISTRY_MIRROR_ENV]: '127.0.0.1:5000' }), {
      url: 'http://127.0.0.1:5000',
      mirror: true,
    });
    assert.deepEqual(registryApiBase('gitlab-registry.cern.ch', { [REGISTRY_MIRROR_ENV]: 'mirror.example.org' }), {
      url: 'https://gitlab-registry.cern.ch',
      mirror: false,
    });
  });

  describe('against a registry on 127.0.0.1', () => {
    const servers: FakeRegistry[] = [];
    const start = async (...args: Parameters<typeof fakeRegistry>): Promise<FakeRegistry> => {
      const s = await fakeRegistry(...args);
      servers.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of servers.splice(0)) await s.close();
    });

    it('gets an anonymous token on 401, follows the pages, and picks the newest matching tag', async () => {
      const registry = await start(TAGS);
      const result = await latestTag(DEFAULT, '2.14.1', { env: { [REGISTRY_MIRROR_ENV]: registry.host } });
      assert.deepEqual(result, {
        kind: 'newer',
        image: 'pytorch/pytorch:2.15.0-cuda13.0-cudnn9-runtime',
        version: '2.15.0',
        pinned: DEFAULT,
        source: registry.host,
      });
      assert.deepEqual(registry.requests, [
        'GET /v2/pytorch/pytorch/tags/list',
        'GET /token?service=fake-registry&scope=repository%3Apytorch%2Fpytorch%3Apull',
        'GET /v2/pytorch/pytorch/tags/list Bearer anon-token',
        // The newest matching tag is on the second page.
        'GET /v2/pytorch/pytorch/tags/list?last=2.16.0-cuda13.2-cudnn9-runtime&n=4 Bearer anon-token',
      ]);
    });

    it("says the catalog's tag is current when nothing newer matches", async () => {
      const registry = await start(['2.14.1-cuda13.0-cudnn9-runtime', '2.16.0-cuda13.2-cudnn9-runtime'], { challenge: 'none' });
      assert.deepEqual(await latestTag(DEFAULT, '2.14.1', { env: { [REGISTRY_MIRROR_ENV]: registry.host } }), {
        kind: 'current',
        image: DEFAULT,
        source: registry.host,
      });
    });

    it('keeps the pinned tag, with the reason, when the registry wants credentials, is silent or is not there', async () => {
      const basic = await start(TAGS, { challenge: 'basic' });
      const silent = await start(TAGS, { silent: true });
      const closed = await start(TAGS);
      await closed.close();
      const pinned = async (host: string): Promise<unknown> =>
        latestTag(DEFAULT, '2.14.1', { env: { [REGISTRY_MIRROR_ENV]: host }, timeoutMs: 300 });
      assert.deepEqual(await pinned(basic.host), {
        kind: 'pinned',
        image: DEFAULT,
        why: 'the registry asks for credentials, and only anonymous lookups are made',
      });
      assert.deepEqual(await pinned(silent.host), { kind: 'pinned', image: DEFAULT, why: `${silent.host} did not answer within 0.3 s` });
      assert.deepEqual(await pinned(closed.host), {
        kind: 'pinned',
        image: DEFAULT,
        why: `${closed.host} could not be reached (ECONNREFUSED)`,
      });
    });

    it('mlc init writes the pinned default and says so; with --latest the newest tag, with its CUDA from the catalog', async () => {
      const registry = await start(TAGS);
      const dirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-latest-')), fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-latest-'))] as const;
      try {
        const offline = await mlcInProcess(['init', '--preset', 'pytorch', '--variant', 'gpu', '--dir', dirs[0]]);
        assert.equal(offline.code, 0, offline.err);
        assert.deepEqual(offline.out.split('\n').slice(0, 2), [
          `PyTorch 2.14.1 (gpu) on ${DEFAULT}, CUDA 13.0`,
          `Using the catalog's pinned ${DEFAULT}; --latest looks for a newer tag online.`,
        ]);
        assert.match(
          fs.readFileSync(path.join(dirs[0], '.devcontainer', 'devcontainer.json'), 'utf8'),
          new RegExp(`"BASE_IMAGE": "${DEFAULT}"`),
        );

        const latest = await mlcInProcess(['init', '--preset', 'pytorch', '--variant', 'gpu', '--latest', '--dir', dirs[1]], {
          [REGISTRY_MIRROR_ENV]: registry.host,
        });
        assert.equal(latest.code, 0, latest.err);
        const newest = 'pytorch/pytorch:2.15.0-cuda13.0-cudnn9-runtime';
        assert.deepEqual(latest.out.split('\n').slice(0, 2), [
          `PyTorch 2.15.0 (gpu) on ${newest}, CUDA 13.0`,
          `Newest matching tag on ${registry.host}: ${newest} (the catalog pins ${DEFAULT}).`,
        ]);
        const config = fs.readFileSync(path.join(dirs[1], '.devcontainer', 'devcontainer.json'), 'utf8');
        assert.match(config, new RegExp(`"BASE_IMAGE": "${newest}"`));
        assert.match(config, new RegExp(`the newest tag like the catalog's ${DEFAULT} when this was written \\(needs CUDA 13\\.0`));
      } finally {
        for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
      }
    });
  });
});
