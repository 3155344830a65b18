import * as assert from 'node:assert/strict';
import { runCli } from '../../../../src/cli/main';
import type { ImageDetails } from '../../../../src/core/docker/engine';
import { EngineError } from '../../../../src/core/docker/errors';
import type { PushInput } from '../../../../src/core/push/push';
import { PushError, parseRegistryTarget, planPush, pushExperimentImage } from '../../../../src/core/push/push';
import { DIRTY_LABEL, REVISION_LABEL } from '../../../../src/core/labels';
import { mlcInProcess as run } from '../../../helpers/cli';
import { imageDetails } from '../../../helpers/images';
import { FakeEngine } from '../../fakes/engine';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const SECRET = 'hunter2-Sekr3t';

function image(labels: Record<string, string>, repoTags = ['myproj:latest', 'myproj:0123456']): ImageDetails {
  return imageDetails({ id: 'sha256:feedface', repoTags, labels, created: '2026-11-22T00:00:00Z' });
}
const clean = image({ [REVISION_LABEL]: SHA, [DIRTY_LABEL]: 'false' });
const dirty = image({ [REVISION_LABEL]: SHA, [DIRTY_LABEL]: 'true' }, ['myproj:latest', 'myproj:0123456-dirty']);
const registry = { host: '127.0.0.1:5000', namespace: 'team' };

describe('mlc push', () => {
  describe('--registry host[:port][/namespace]', () => {
    it('splits the host from the namespace', () => {
      assert.deepEqual(parseRegistryTarget('127.0.0.1:5000'), { host: '127.0.0.1:5000' });
      assert.deepEqual(parseRegistryTarget('ghcr.io/alice/ml/'), { host: 'ghcr.io', namespace: 'alice/ml' });
      assert.deepEqual(parseRegistryTarget('localhost:5000/a_b-c.d'), { host: 'localhost:5000', namespace: 'a_b-c.d' });
      assert.deepEqual(parseRegistryTarget('index.docker.io/alice'), { host: 'docker.io', namespace: 'alice' });
    });

    it('refuses a bare name, which docker would quietly send to Docker Hub', () => {
      assert.throws(
        () => parseRegistryTarget('alice'),
        (e: unknown) => e instanceof PushError && /does not start with a registry host.*docker\.io\/alice for Docker Hub/.test(e.message),
      );
    });

    it('refuses a scheme and a namespace docker would reject', () => {
      assert.throws(() => parseRegistryTarget('https://ghcr.io/alice'), /without a scheme: e\.g\. ghcr\.io\/alice/);
      assert.throws(() => parseRegistryTarget('ghcr.io/Alice'), /namespace component "Alice" is not valid/);
    });
  });

  describe('what gets pushed', () => {
    it('pushes the commit tag from the revision label, whichever tag names the image, and not latest', () => {
      const plan = planPush({ ref: 'myproj:latest', image: clean, registry, latest: false, allowDirty: false });
      assert.deepEqual(plan, { imageId: 'sha256:feedface', repository: '127.0.0.1:5000/team/myproj', tags: ['0123456'], notes: [] });
    });

    it('adds latest with --latest', () => {
      assert.deepEqual(
        planPush({ ref: 'myproj:0123456', image: clean, registry: { host: 'ghcr.io' }, latest: true, allowDirty: false }).tags,
        ['0123456', 'latest'],
      );
    });

    it('refuses an image built from uncommitted changes and says how to get a clean one', () => {
      assert.throws(
        () => planPush({ ref: 'myproj:latest', image: dirty, registry, latest: false, allowDirty: false }),
        (e: unknown) =>
          e instanceof PushError &&
          e.reason === 'dirty' &&
          /uncommitted changes \(0123456-dirty\).*commit your changes, rebuild with `mlc build`.*--allow-dirty/.test(e.message),
      );
    });

    it('pushes a dirty image as <sha7>-dirty with --allow-dirty, and says so', () => {
      const plan = planPush({ ref: 'myproj:latest', image: dirty, registry, latest: false, allowDirty: true });
      assert.deepEqual(plan.tags, ['0123456-dirty']);
      assert.match(plan.notes.join('\n'), /uncommitted changes on top of 0123456 \(--allow-dirty\)/);
    });

    it('uses the given tag for an image without a revision, and says it names no commit', () => {
      const plan = planPush({
        ref: 'tool:20261122-0800',
        image: image({}, ['tool:20261122-0800']),
        registry,
        latest: false,
        allowDirty: false,
      });
      assert.deepEqual(plan.tags, ['20261122-0800']);
      assert.match(plan.notes.join('\n'), /no org\.opencontainers\.image\.revision label .* names no commit/);
      assert.deepEqual(planPush({ ref: 'tool', image: image({}), registry, latest: true, allowDirty: false }).tags, ['latest']);
    });

    it('keeps the repository path but drops a registry host the local name already has', () => {
      assert.equal(
        planPush({ ref: 'mlc-test/proj:latest', image: clean, registry, latest: false, allowDirty: false }).repository,
        '127.0.0.1:5000/team/mlc-test/proj',
      );
      assert.equal(
        planPush({ ref: 'old.example.org:5000/proj:x', image: clean, registry: { host: 'ghcr.io' }, latest: false, allowDirty: false })
          .repository,
        'ghcr.io/proj',
      );
    });

    it('names an image given by id after its first tag', () => {
      assert.equal(
        planPush({ ref: 'feedface0123', image: clean, registry: { host: 'ghcr.io' }, latest: false, allowDirty: false }).repository,
        'ghcr.io/myproj',
      );
      assert.throws(
        () => planPush({ ref: 'feedface0123', image: image({ [REVISION_LABEL]: SHA }, []), registry, latest: false, allowDirty: false }),
        /has no name to push it under/,
      );
    });

    it('refuses a revision label that is not a commit sha', () => {
      assert.throws(
        () =>
          planPush({
            ref: 'myproj:latest',
            image: image({ [REVISION_LABEL]: 'main; rm -rf' }),
            registry,
            latest: false,
            allowDirty: false,
          }),
        /not a git commit/,
      );
    });
  });

  describe('pushExperimentImage against a fake engine', () => {
    function input(engine: FakeEngine, over: Partial<PushInput> = {}): PushInput {
      return {
        engine,
        ref: 'myproj:latest',
        registry,
        latest: true,
        allowDirty: false,
        credentials: async () => ({ auth: undefined, source: 'none (no docker config.json)' }),
        ...over,
      };
    }

    it('tags the image for the registry, pushes each tag with the credentials, and returns references pinned by digest', async () => {
      const engine = new FakeEngine();
      engine.images.set('myproj:latest', clean);
      const auth = { username: 'ada', password: SECRET, serveraddress: '127.0.0.1:5000' };
      const notes: string[] = [];
      const pushed = await pushExperimentImage(
        input(engine, {
          credentials: async (host) => ({ auth: { ...auth, serveraddress: host }, source: '/c/config.json' }),
          onNote: (l) => notes.push(l),
        }),
      );
      assert.deepEqual(
        engine.calls.filter((c) => !c.startsWith('inspect')),
        [
          'tagImage sha256:feedface 127.0.0.1:5000/team/myproj:0123456',
          'pushImage 127.0.0.1:5000/team/myproj:0123456',
          'tagImage sha256:feedface 127.0.0.1:5000/team/myproj:latest',
          'pushImage 127.0.0.1:5000/team/myproj:latest',
        ],
      );
      assert.deepEqual(
        engine.pushes.map((p) => p.auth),
        [auth, auth],
      );
      assert.equal(pushed.length, 2);
      assert.match(pushed[0]!.reference, /^127\.0\.0\.1:5000\/team\/myproj:0123456@sha256:[0-9a-f]{64}$/);
      assert.equal(pushed[1]!.digest, pushed[0]!.digest);
      assert.deepEqual(notes, ['credentials for 127.0.0.1:5000: /c/config.json']);
    });

    it('says to build first when the image is not there, and pushes nothing', async () => {
      const engine = new FakeEngine();
      await assert.rejects(
        pushExperimentImage(input(engine)),
        (e: unknown) => e instanceof PushError && e.reason === 'notFound' && /build it first \(mlc build\)/.test(e.message),
      );
      assert.deepEqual(engine.pushes, []);
    });

    it('turns an anonymous push the registry refused into "run docker login <host>"', async () => {
      const engine = new FakeEngine();
      engine.images.set('myproj:latest', clean);
      engine.pushError = new EngineError('Pushing 127.0.0.1:5000/team/myproj:0123456 failed: no basic auth credentials', 'unauthorized');
      await assert.rejects(
        pushExperimentImage(input(engine)),
        (e: unknown) =>
          e instanceof PushError &&
          e.message ===
            '127.0.0.1:5000 wants credentials to push 127.0.0.1:5000/team/myproj ("no basic auth credentials"): run `docker login 127.0.0.1:5000`, then push again.',
      );
    });

    it("a registry gone mid-push: one sentence in our words, the engine's Go error left out", async () => {
      const engine = new FakeEngine();
      engine.images.set('myproj:latest', clean);
      const raw = 'Put "http://127.0.0.1:5000/v2/team/myproj/blobs/uploads/x": dial tcp 127.0.0.1:5000: connect: connection refused';
      engine.pushError = new EngineError(`Pushing 127.0.0.1:5000/team/myproj:0123456 failed: ${raw}`, 'api', undefined, raw);
      await assert.rejects(
        pushExperimentImage(input(engine)),
        (e: unknown) =>
          e instanceof PushError &&
          e.reason === 'registryGone' &&
          e.pushed.length === 0 &&
          e.message ===
            'The registry 127.0.0.1:5000 went away in the middle of the push (it refused connections): 127.0.0.1:5000/team/myproj:0123456 was not pushed. Once the registry is up again, push again: the layers it already holds are not sent twice.',
      );
    });

    it('names where refused credentials came from, without the credentials', async () => {
      const engine = new FakeEngine();
      engine.images.set('myproj:latest', clean);
      engine.pushError = new EngineError(
        'Pushing 127.0.0.1:5000/team/myproj:0123456 failed: unauthorized: authentication required',
        'unauthorized',
      );
      const credentials = async (): Promise<{ auth: { username: string; password: string }; source: string }> => ({
        auth: { username: 'ada', password: SECRET },
        source: 'credsStore docker-credential-pass',
      });
      await assert.rejects(pushExperimentImage(input(engine, { credentials })), (e: unknown) => {
        assert.ok(e instanceof PushError);
        assert.match(
          e.message,
          /refused the credentials from credsStore docker-credential-pass .*"unauthorized: authentication required".*run `docker login 127\.0\.0\.1:5000` with an account that may push there/,
        );
        assert.ok(!e.message.includes(SECRET));
        return true;
      });
    });
  });

  describe('command line', () => {
    it('is listed, with help', async () => {
      const help = await run(['push', '--help']);
      assert.equal(help.code, 0);
      const list: string[] = [];
      await runCli(['--help'], { out: (l) => list.push(l), err: () => undefined, env: {} }, new AbortController().signal);
      assert.match(list.join('\n'), /^ {2}push +push an experiment image/m);
    });

    it('needs an image and --registry (usage error, exit 2)', async () => {
      for (const args of [
        ['push'],
        ['push', 'myproj:latest'],
        ['push', '--registry', 'ghcr.io/a'],
        ['push', 'a', 'b', '--registry', 'ghcr.io/a'],
      ]) {
        const r = await run(args);
        assert.equal(r.code, 2, args.join(' '));
        assert.match(r.err, /^mlc push: usage: mlc push IMAGE --registry HOST/);
      }
    });

    it('reports a --registry without a host as a usage error, before asking any engine', async () => {
      const r = await run(['push', 'myproj:latest', '--registry', 'alice', '--host', 'tcp://127.0.0.1:1']);
      assert.equal(r.code, 2);
      assert.match(r.err, /^mlc push: --registry "alice" does not start with a registry host/);
    });

    it('rejects unknown options', async () => {
      const r = await run(['push', 'myproj:latest', '--registry', 'ghcr.io/a', '--force']);
      assert.equal(r.code, 2);
      assert.match(r.err, /--force/);
    });
  });
});
