import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import { scanContext } from '../../src/core/docker/buildContext';
import type { Engine } from '../../src/core/docker/engine';
import { EngineError } from '../../src/core/docker/errors';
import { buildWithSession } from '../../src/core/docker/session/build';
import { STANDIN_DEBIAN, requireEngine, requireImage, requireKind } from './harness';

/** 400 files of 4 KiB each, and a Dockerfile that copies them. */
function project(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-session-'));
  fs.writeFileSync(path.join(root, 'Dockerfile'), `FROM ${STANDIN_DEBIAN}\nCOPY . /ctx\n`);
  for (let d = 0; d < 20; d++) {
    fs.mkdirSync(path.join(root, `pkg${d}`));
    for (let f = 0; f < 20; f++) fs.writeFileSync(path.join(root, `pkg${d}`, `m${f}.py`), `# ${d}/${f}\n`.padEnd(4096, 'x'));
  }
  return root;
}

/** The engine, with the last session connection it opened kept for the test to look at. */
function watched(engine: Engine): Engine & { sockets: Duplex[] } {
  const sockets: Duplex[] = [];
  return Object.assign(Object.create(engine) as Engine, {
    sockets,
    openSession: async (headers: Record<string, string | string[]>, signal?: AbortSignal) => {
      const s = await engine.openSession(headers, signal);
      sockets.push(s);
      return s;
    },
  });
}

describe('BuildKit session builds (real engine)', function () {
  let engine: Engine;
  const images: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
  });

  after(async () => {
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
  });

  it('a warm rebuild after a one-file edit sends that file, not the context', async function () {
    await requireKind(
      this,
      engine,
      'docker',
      'needs a BuildKit session (POST /session), which Podman answers 404; the Docker pass runs it',
    );
    const root = project();
    const first = await buildWithSession(engine, {
      scan: await scanContext(root, 'Dockerfile'),
      dockerfile: 'Dockerfile',
      request: { tags: ['mlc-test-session:1'], buildKit: true },
    });
    assert.ok(first, 'the engine has no BuildKit session endpoint');
    images.push('mlc-test-session:1');
    const scan = await scanContext(root, 'Dockerfile');
    // Every file went on the first sync.
    assert.ok(first.bytesSent >= scan.totalBytes, `first sync sent ${first.bytesSent} of ${scan.totalBytes} bytes`);

    fs.appendFileSync(path.join(root, 'pkg7', 'm3.py'), '\nedited = True\n');
    const second = await buildWithSession(engine, {
      scan: await scanContext(root, 'Dockerfile'),
      dockerfile: 'Dockerfile',
      request: { tags: ['mlc-test-session:2'], buildKit: true },
    });
    assert.ok(second);
    images.push('mlc-test-session:2');
    assert.equal(second.filesSent, 1);
    assert.ok(
      second.bytesSent < scan.totalBytes / 10,
      `a one-file rebuild sent ${second.bytesSent} bytes of a ${scan.totalBytes}-byte context`,
    );
    const seen = await engine.runCapture('mlc-test-session:2', ['tail', '-n', '1', '/ctx/pkg7/m3.py']);
    assert.equal(seen.stdout.trim(), 'edited = True');
  });

  it('a Dockerfile that is a link builds from the file it points to; a link out of the context is refused in one sentence', async function () {
    await requireKind(
      this,
      engine,
      'docker',
      'needs a BuildKit session (POST /session), which Podman answers 404; the Docker pass runs it',
    );
    const root = project();
    fs.mkdirSync(path.join(root, 'docker'));
    fs.writeFileSync(path.join(root, 'docker', 'Dockerfile.cpu'), `FROM ${STANDIN_DEBIAN}\nRUN echo linked > /linked\n`);
    fs.rmSync(path.join(root, 'Dockerfile'));
    fs.symlinkSync('docker/Dockerfile.cpu', path.join(root, 'Dockerfile'));
    const built = await buildWithSession(engine, {
      scan: await scanContext(root, 'Dockerfile'),
      dockerfile: 'Dockerfile',
      request: { tags: ['mlc-test-session-link:1'], buildKit: true },
    });
    assert.ok(built);
    images.push('mlc-test-session-link:1');
    assert.equal((await engine.runCapture('mlc-test-session-link:1', ['cat', '/linked'])).stdout.trim(), 'linked');

    const outside = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-session-out-')), 'Dockerfile');
    fs.writeFileSync(outside, `FROM ${STANDIN_DEBIAN}\n`);
    fs.rmSync(path.join(root, 'Dockerfile'));
    fs.symlinkSync(outside, path.join(root, 'Dockerfile'));
    await assert.rejects(
      buildWithSession(engine, {
        scan: await scanContext(root, 'Dockerfile'),
        dockerfile: 'Dockerfile',
        request: { tags: ['mlc-test-session-link:2'], buildKit: true },
      }),
      /^BuildContextError: The Dockerfile Dockerfile is a link to .*, which is not a file inside the build context .*: point it at one, or name that file as the Dockerfile\.$/,
    );
  });

  it('cancel ends the build with no tag and closes the session', async function () {
    await requireKind(
      this,
      engine,
      'docker',
      'needs a BuildKit session (POST /session), which Podman answers 404; the Docker pass runs it',
    );
    const root = project();
    fs.appendFileSync(path.join(root, 'Dockerfile'), 'RUN sleep 60\n');
    const spy = watched(engine);
    const controller = new AbortController();
    const started = buildWithSession(spy, {
      scan: await scanContext(root, 'Dockerfile'),
      dockerfile: 'Dockerfile',
      request: { tags: ['mlc-test-session-cancel:1'], buildKit: true, noCache: true },
      onEvent: (e) => {
        if (typeof e.aux === 'string' && !controller.signal.aborted) setTimeout(() => controller.abort(), 1500);
      },
      signal: controller.signal,
    });
    await assert.rejects(started, (e: unknown) => e instanceof EngineError && e.reason === 'cancelled');
    assert.equal((await engine.listImages({ reference: 'mlc-test-session-cancel' })).length, 0, 'a tag appeared after cancel');
    assert.equal(spy.sockets.length, 1);
    assert.ok(spy.sockets[0]!.destroyed, 'the session connection is still open');
  });

  it('an engine without a session endpoint gets nothing through it, so the build falls back to the tar', async function () {
    await requireKind(this, engine, 'podman', 'needs an engine without POST /session; the Podman pass runs it');
    const root = project();
    const result = await buildWithSession(engine, {
      scan: await scanContext(root, 'Dockerfile'),
      dockerfile: 'Dockerfile',
      request: { tags: ['mlc-test-session-podman:1'], buildKit: true },
    });
    assert.equal(result, undefined);
  });
});
