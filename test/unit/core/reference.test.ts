import * as assert from 'node:assert/strict';
import { splitTaggedReference } from '../../../src/core/docker/dockerode/push';
import { registryHost } from '../../../src/core/docker/registryAuth';
import type { ImageReference } from '../../../src/core/reference';
import {
  familiarImageName,
  familiarName,
  formatReference,
  ImageReferenceError,
  imageBaseName,
  normalizeReference,
  parseReference,
  splitRegistry,
  tryParseReference,
} from '../../../src/core/reference';

const SHA = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('image references, as the docker CLI reads them', () => {
  const valid: [string, ImageReference, string][] = [
    // written, parsed, normalized (latest added only when there is neither tag nor digest)
    ['ubuntu', { registry: 'docker.io', path: 'library/ubuntu' }, 'docker.io/library/ubuntu:latest'],
    ['ubuntu:22.04', { registry: 'docker.io', path: 'library/ubuntu', tag: '22.04' }, 'docker.io/library/ubuntu:22.04'],
    [
      'pytorch/pytorch:2.5.1-cuda12.4',
      { registry: 'docker.io', path: 'pytorch/pytorch', tag: '2.5.1-cuda12.4' },
      'docker.io/pytorch/pytorch:2.5.1-cuda12.4',
    ],
    ['docker.io/ubuntu', { registry: 'docker.io', path: 'library/ubuntu' }, 'docker.io/library/ubuntu:latest'],
    ['index.docker.io/alice/x:1', { registry: 'docker.io', path: 'alice/x', tag: '1' }, 'docker.io/alice/x:1'],
    ['localhost:5000/a/b:t', { registry: 'localhost:5000', path: 'a/b', tag: 't' }, 'localhost:5000/a/b:t'],
    ['localhost/p', { registry: 'localhost', path: 'p' }, 'localhost/p:latest'],
    ['registry.example.com:5000/x', { registry: 'registry.example.com:5000', path: 'x' }, 'registry.example.com:5000/x:latest'],
    [
      '127.0.0.1:5000/lab/dimuon:3f2a1bc',
      { registry: '127.0.0.1:5000', path: 'lab/dimuon', tag: '3f2a1bc' },
      '127.0.0.1:5000/lab/dimuon:3f2a1bc',
    ],
    ['[::1]:5000/x', { registry: '[::1]:5000', path: 'x' }, '[::1]:5000/x:latest'],
    // a host:port without a path is a name and a tag, as in docker
    ['localhost:5000', { registry: 'docker.io', path: 'library/localhost', tag: '5000' }, 'docker.io/library/localhost:5000'],
    [`ghcr.io/alice/dimuon@${SHA}`, { registry: 'ghcr.io', path: 'alice/dimuon', digest: SHA }, `ghcr.io/alice/dimuon@${SHA}`],
    [
      `ghcr.io/alice/dimuon:3f2a1bc@${SHA}`,
      { registry: 'ghcr.io', path: 'alice/dimuon', tag: '3f2a1bc', digest: SHA },
      `ghcr.io/alice/dimuon:3f2a1bc@${SHA}`,
    ],
    [`localhost:5000/a@${SHA}`, { registry: 'localhost:5000', path: 'a', digest: SHA }, `localhost:5000/a@${SHA}`],
    [
      'alice/a_b__c-d--e.f:Tag_1.x-Y',
      { registry: 'docker.io', path: 'alice/a_b__c-d--e.f', tag: 'Tag_1.x-Y' },
      'docker.io/alice/a_b__c-d--e.f:Tag_1.x-Y',
    ],
  ];
  for (const [written, parsed, normalized] of valid) {
    it(`reads ${written} as ${normalized}`, () => {
      assert.deepEqual(parseReference(written), parsed);
      assert.equal(normalizeReference(written), normalized);
    });
  }

  it('shows names as docker images does: no docker.io, no library/ for official images', () => {
    const cases: [string, string][] = [
      ['ubuntu:22.04', 'ubuntu:22.04'],
      ['docker.io/library/ubuntu', 'ubuntu'],
      ['docker.io/alice/x:1', 'alice/x:1'],
      ['docker.io/library/a/b', 'library/a/b'],
      ['localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
      [`ghcr.io/x@${SHA}`, `ghcr.io/x@${SHA}`],
    ];
    for (const [written, familiar] of cases) assert.equal(formatReference(parseReference(written), { familiar: true }), familiar, written);
    assert.equal(familiarName(parseReference('localhost:5000/a/b:t')), 'localhost:5000/a/b');
  });

  it("shows the names Podman reports as Docker does: docker.io/library/ and Podman's localhost/ go", () => {
    const cases: [string, boolean, string][] = [
      ['docker.io/library/pd-pytorch:eb78223', true, 'pd-pytorch:eb78223'],
      ['docker.io/library/pd-pytorch:eb78223', false, 'pd-pytorch:eb78223'],
      ['localhost/mlc-test/debian:bookworm', true, 'mlc-test/debian:bookworm'],
      ['localhost/pm:1', true, 'pm:1'],
      // On Docker, localhost/ is a registry like any other: pm:1 would name Docker Hub's image.
      ['localhost/pm:1', false, 'localhost/pm:1'],
      ['localhost:5000/a/b:t', true, 'localhost:5000/a/b:t'],
      ['docker.io/alice/x:1', true, 'alice/x:1'],
      ['<none>:<none>', true, '<none>:<none>'],
    ];
    for (const [raw, podman, shown] of cases) assert.equal(familiarImageName(raw, podman), shown, `${raw} (podman: ${String(podman)})`);
  });

  it('refuses a repository with capital letters and says which name to write instead', () => {
    const cases: [string, string][] = [
      ['Ubuntu', 'ubuntu'],
      ['Alice/Dimuon:V1', 'alice/dimuon:V1'],
      ['ghcr.io/Alice/x:t', 'ghcr.io/alice/x:t'],
      ['localhost:5000/MyProj', 'localhost:5000/myproj'],
    ];
    for (const [written, lower] of cases) {
      assert.throws(
        () => parseReference(written),
        (e: unknown) =>
          e instanceof ImageReferenceError &&
          e.reason === 'uppercase' &&
          e.message.includes(`write "${lower}"`) &&
          e.message.includes('lowercase'),
        written,
      );
    }
  });

  it('refuses what docker refuses, saying how to write a reference', () => {
    const invalid = [
      '',
      ':tag',
      'name:',
      'a//b',
      '/a',
      'a/',
      '-a',
      'a-',
      'a___b',
      'a..b',
      'a b',
      'a:t:u',
      `a:${'t'.repeat(129)}`,
      'a:-t',
      'a@sha256:abc',
      `a@md5:${'0'.repeat(32)}`,
      `a@SHA256:${'0'.repeat(64)}`,
      'a@',
      'bad_host.example.com/x',
      'host.example.com:port/x',
      '0123456789abcdef'.repeat(4),
      `${'a'.repeat(250)}/${'b'.repeat(10)}`,
    ];
    for (const raw of invalid) {
      assert.throws(
        () => parseReference(raw),
        (e: unknown) => e instanceof ImageReferenceError && e.reason === 'format' && e.message.includes('[HOST[:PORT]/]NAME[:TAG]'),
        JSON.stringify(raw),
      );
      assert.equal(tryParseReference(raw), undefined, raw);
    }
  });

  it('splits off the registry without validating, for Dockerfile FROM lines and credentials', () => {
    assert.deepEqual(splitRegistry('python'), { registry: 'docker.io', path: 'library/python' });
    assert.deepEqual(splitRegistry('localhost:5000/p:t'), { registry: 'localhost:5000', path: 'p:t' });
    assert.deepEqual(splitRegistry('${BASE_IMAGE}'), { registry: 'docker.io', path: 'library/${BASE_IMAGE}' });
    assert.equal(registryHost('localhost:5000/p:t'), 'localhost:5000');
    assert.equal(registryHost('localhost:5000'), 'docker.io');
  });

  it("names an image by its repository's last component, not by its registry host", () => {
    assert.equal(imageBaseName('localhost:5000/p:t'), 'p');
    assert.equal(imageBaseName('registry.example.com:5000/lab/dimuon'), 'dimuon');
    assert.equal(imageBaseName(`ghcr.io/a/b:t@${SHA}`), 'b');
    assert.equal(imageBaseName('dimuon:latest'), 'dimuon');
  });

  it('pushes one tag of a repository and refuses a digest or a missing tag', () => {
    assert.deepEqual(splitTaggedReference('localhost:5000/a/b:t'), { repository: 'localhost:5000/a/b', tag: 't' });
    assert.deepEqual(splitTaggedReference('ghcr.io/alice/x:3f2a1bc'), { repository: 'ghcr.io/alice/x', tag: '3f2a1bc' });
    for (const ref of ['localhost:5000/a/b', `ghcr.io/x:t@${SHA}`, 'x:']) {
      assert.throws(() => splitTaggedReference(ref), /name one tag/, ref);
    }
  });
});
