import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { packContext, scanContext } from '../../src/core/docker/buildContext';
import { BuildProgress } from '../../src/core/docker/buildProgress';
import { buildWithSession } from '../../src/core/docker/session/build';
import { CONTEXT_CASES, writeFixture } from '../fixtures/contextCases';
import type { EngineKind } from './harness';
import { STANDIN_DEBIAN, engineKind, requireEngine, requireImage } from './harness';

const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const PROBE = `FROM ${STANDIN_DEBIAN}\nCOPY . /ctx\nRUN cd /ctx && echo MLC-BEGIN && find . -mindepth 1 ! -type d | sed 's#^\\./##' | LC_ALL=C sort && echo MLC-END\n`;

function between(output: string): string[] {
  const lines = output.split('\n').map((l) => l.trim());
  return lines.slice(lines.indexOf('MLC-BEGIN') + 1, lines.indexOf('MLC-END')).filter(Boolean);
}

/** The two ways a context reaches the engine: a tar (the classic builder here), or a BuildKit session's FileSync. */
const PATHS = ['tar', 'session'] as const;

describe('build context agrees with the docker CLI (real dockerd)', function () {
  let engine: Engine;
  let kind: EngineKind;
  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    kind = await engineKind(engine);
  });

  for (const transport of PATHS) {
    for (const c of CONTEXT_CASES) {
      it(`${c.name}: a build sees the same files from the CLI and from ML Containers (${transport})`, async function () {
        if (transport === 'session' && kind === 'podman') {
          console.log('      skipped: needs a BuildKit session (POST /session), which Podman answers 404; the Docker pass runs it');
          this.skip();
        }
        const dockerfile = c.dockerfile ?? 'Dockerfile';
        const root = writeFixture({ ...c, files: { ...c.files, [dockerfile]: PROBE } });
        const cli = await new Promise<string>((resolve, reject) =>
          execFile(
            DOCKER,
            [
              'build',
              '--no-cache',
              '--rm',
              '--force-rm',
              '-q=false',
              '-t',
              'mlc-test/context-probe:cli',
              '-f',
              path.join(root, dockerfile),
              root,
            ],
            { env: { ...process.env, DOCKER_BUILDKIT: '0' } },
            (e, out, err) => (e ? reject(new Error(err)) : resolve(out)),
          ),
        );
        const expected = [...(c.visibleInBuild ?? c.expected)].sort();
        assert.deepEqual(between(cli), expected, 'the fixture table disagrees with the docker CLI');

        await engine.removeImage('mlc-test/context-probe:cli');
        let ours = '';
        let id: string;
        if (transport === 'tar') {
          id = await engine.build(
            packContext(await scanContext(root, dockerfile)),
            { tags: [], dockerfile, buildKit: false, noCache: true },
            (e) => {
              if (typeof e.stream === 'string') ours += e.stream;
            },
          );
        } else {
          const progress = new BuildProgress();
          const built = await buildWithSession(engine, {
            scan: await scanContext(root, dockerfile),
            dockerfile,
            request: { tags: [], buildKit: true, noCache: true },
            onEvent: (e) => {
              for (const line of progress.push(e)) ours += `${line.replace(/^#\d+ [\d.]+ /, '')}\n`;
            },
          });
          assert.ok(built, 'the engine has no BuildKit session endpoint');
          id = built.imageId;
        }
        // Untagged: remove it by id, or every run leaves a dangling image behind.
        await engine.removeImage(id);
        assert.deepEqual(between(ours), expected);
      });
    }
  }
});
