import * as assert from 'node:assert/strict';
import * as protobuf from 'protobufjs';
import { BuildProgress } from '../../../../src/core/docker/buildProgress';
import { stripCredentials } from '../../../../src/core/provenance/git';
import { provenanceLabels } from '../../../../src/core/labels';
import { imageName, imageTags } from '../../../../src/core/reference';
import { diffLocks, formatDiff, parseLock } from '../../../../src/core/provenance/lock';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const NOW = new Date('2026-11-22T10:20:30.456Z');

describe('provenance', () => {
  it('tags <name>:<sha7>, <name>:<sha7>-dirty, and a timestamp without git', () => {
    assert.deepEqual(imageTags('dimuon', { sha: SHA, dirty: false }, NOW), ['dimuon:0123456', 'dimuon:latest']);
    assert.deepEqual(imageTags('dimuon', { sha: SHA, dirty: true }, NOW), ['dimuon:0123456-dirty', 'dimuon:latest']);
    assert.deepEqual(imageTags('dimuon', undefined, NOW), ['dimuon:20261122-102030', 'dimuon:latest']);
  });

  it('sanitizes names into valid image references', () => {
    assert.equal(imageName('My Analysis (PyTorch)'), 'my-analysis-pytorch');
    assert.equal(imageName('__--weird..Name--__'), 'weird-name');
    assert.equal(imageName('ÄÖÜ'), 'ml-experiment');
    assert.equal(imageName('x'.repeat(300)).length, 128);
  });

  it('strips credentials from remote URLs and leaves scp-style ones alone', () => {
    assert.equal(stripCredentials('https://ada:ghp_x@github.com/lab/repo.git'), 'https://github.com/lab/repo.git');
    assert.equal(stripCredentials('https://token@gitlab.cern.ch/atlas/x.git'), 'https://gitlab.cern.ch/atlas/x.git');
    assert.equal(stripCredentials('git@github.com:lab/repo.git'), 'git@github.com:lab/repo.git');
  });

  it('writes the OCI keys and ours, with no revision keys when there is no git', () => {
    const labels = provenanceLabels({
      git: { sha: SHA, dirty: true, branch: 'main', remoteUrl: 'https://x/y.git', describe: 'v1.2-3-g0123456' },
      title: 't',
      preset: 'pytorch',
      variant: 'gpu',
      dockerfileSha256: 'f'.repeat(64),
      config: { path: 'configs/a.yaml', sha256: 'c'.repeat(64) },
    });
    assert.equal(labels['org.opencontainers.image.revision'], SHA);
    assert.equal(labels['org.opencontainers.image.version'], 'v1.2-3-g0123456');
    // No build time: a rebuild with nothing changed must be the same image (BuildKit's cache), as the CLI's is.
    assert.equal(labels['org.opencontainers.image.created'], undefined);
    assert.equal(labels['org.mlcontainers.dirty'], 'true');
    assert.equal(labels['org.mlcontainers.config.path'], 'configs/a.yaml');
    const bare = provenanceLabels({ git: undefined, title: 't', dockerfileSha256: 'f'.repeat(64) });
    assert.equal(bare['org.opencontainers.image.revision'], undefined);
    assert.equal(bare['org.mlcontainers.dirty'], undefined);
  });
});

describe('BuildKit progress', () => {
  // Encodes a StatusResponse the way BuildKit does, from the same field numbers as control.proto.
  const root = protobuf.Root.fromJSON({
    nested: {
      S: { fields: { vertexes: { rule: 'repeated', type: 'V', id: 1 }, logs: { rule: 'repeated', type: 'L', id: 3 } } },
      V: {
        fields: {
          digest: { type: 'string', id: 1 },
          name: { type: 'string', id: 3 },
          cached: { type: 'bool', id: 4 },
          started: { type: 'T', id: 5 },
          completed: { type: 'T', id: 6 },
          error: { type: 'string', id: 7 },
        },
      },
      L: { fields: { vertex: { type: 'string', id: 1 }, msg: { type: 'bytes', id: 4 } } },
      T: { fields: { seconds: { type: 'int64', id: 1 } } },
    },
  });
  const S = root.lookupType('S');
  const trace = (payload: object): { id: string; aux: string } => ({
    id: 'moby.buildkit.trace',
    aux: Buffer.from(S.encode(S.fromObject(payload)).finish()).toString('base64'),
  });

  it('turns traces into step lines, CACHED marks, logs, and the failing step with its last lines', () => {
    const p = new BuildProgress();
    const lines = [
      ...p.push(
        trace({ vertexes: [{ digest: 'a', name: '[1/3] FROM base', started: { seconds: 1 }, cached: true, completed: { seconds: 1 } }] }),
      ),
      ...p.push(trace({ vertexes: [{ digest: 'b', name: '[2/3] RUN pip install -r req.txt', started: { seconds: 2 } }] })),
      ...p.push(trace({ logs: [{ vertex: 'b', msg: Buffer.from('Collecting numpy\nInstalling\n') }] })),
      ...p.push(trace({ vertexes: [{ digest: 'b', name: '[2/3] RUN pip install -r req.txt', error: 'exit code: 1' }] })),
    ];
    assert.deepEqual(lines, [
      '[1/3] FROM base',
      'CACHED [1/3] FROM base',
      '[2/3] RUN pip install -r req.txt',
      '  Collecting numpy',
      '  Installing',
      'ERROR [2/3] RUN pip install -r req.txt: exit code: 1',
    ]);
    assert.equal(p.current, '[2/3] RUN pip install -r req.txt');
    assert.deepEqual(p.cachedSteps(), ['[1/3] FROM base']);
    assert.deepEqual(p.failure('build failed'), {
      step: '[2/3] RUN pip install -r req.txt',
      error: 'exit code: 1',
      logTail: ['Collecting numpy', 'Installing'],
    });
  });

  it("follows the classic builder's Step lines", () => {
    const p = new BuildProgress();
    p.push({ stream: 'Step 1/2 : FROM base\n' });
    p.push({ stream: 'Step 2/2 : RUN make\n' });
    p.push({ stream: 'make: *** [all] Error 2\n' });
    assert.equal(p.current, 'RUN make');
    assert.deepEqual(p.failure('returned a non-zero code: 2'), {
      step: 'RUN make',
      error: 'returned a non-zero code: 2',
      logTail: ['make: *** [all] Error 2'],
    });
  });

  it("follows Podman's (buildah's) STEP lines and its Using cache marks", () => {
    const p = new BuildProgress();
    p.push({ stream: 'STEP 1/3: FROM mlc-test/debian:bookworm\n' });
    p.push({ stream: 'STEP 2/3: RUN pip install -r req.txt\n' });
    p.push({ stream: '--> Using cache 5c2c96d70ecc1b2e\n' });
    p.push({ stream: 'STEP 3/3: RUN exit 7\n' });
    p.push({ stream: 'CUDA error: no kernel image\n' });
    assert.equal(p.current, 'RUN exit 7');
    assert.deepEqual(p.cachedSteps(), ['RUN pip install -r req.txt']);
    assert.deepEqual(p.failure('while running runtime: exit status 7'), {
      step: 'RUN exit 7',
      error: 'while running runtime: exit status 7',
      logTail: ['CUDA error: no kernel image'],
    });
  });

  it("reads lines split across stream events (Podman sends buildah's output as it is written)", () => {
    const p = new BuildProgress();
    for (const chunk of [
      'STEP 1/3: FROM mlc-test/debian:book',
      'worm\nSTEP 2/3: RUN pip install ',
      '-r req.txt\n--',
      '> Using cache 5c2c96d70ecc1b2e\nSTEP 3/3: RUN exit 7\n',
      'CUDA error: no kernel image',
    ])
      p.push({ stream: chunk });
    assert.equal(p.current, 'RUN exit 7');
    assert.deepEqual(p.cachedSteps(), ['RUN pip install -r req.txt']);
    assert.deepEqual(p.failure('exit status 7').logTail, ['CUDA error: no kernel image'], 'the unfinished last line is part of the tail');
  });
});

describe('environment locks', () => {
  it('parses pip freeze and conda export lines and diffs them', () => {
    const a = parseLock(
      '# image sha256:a\nnumpy==1.26.4\nTorch==2.5.1\nmypkg @ file:///src/mypkg\n-e git+https://x#egg=y\n# conda\ncudatoolkit=11.8.0=h6a678d5_0\n',
    );
    const b = parseLock('numpy==2.1.0\ntorch==2.5.1\neinops==0.8.0\n# conda\n');
    assert.deepEqual([...a.keys()], ['numpy', 'torch', 'mypkg', 'conda:cudatoolkit']);
    assert.deepEqual(formatDiff(diffLocks(a, b)), [
      '+ einops==0.8.0',
      '- conda:cudatoolkit==11.8.0',
      '- mypkg==file:///src/mypkg',
      '~ numpy 1.26.4 -> 2.1.0',
    ]);
  });
});
