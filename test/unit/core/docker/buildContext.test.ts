import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extract } from 'tar-stream';
import { BuildContextError, biggestOffenders, nameCouldMatch, packContext, scanContext } from '../../../../src/core/docker/buildContext';
import { dockerignoreMatcher } from '../../../../src/core/docker/dockerignore';
import { CONTEXT_CASES, writeFixture } from '../../../fixtures/contextCases';

describe('build context', () => {
  for (const c of CONTEXT_CASES) {
    it(`sends what .dockerignore allows: ${c.name}`, async () => {
      const root = writeFixture(c);
      const scan = await scanContext(root, c.dockerfile ?? 'Dockerfile');
      const sent = scan.entries
        .filter((e) => e.type !== 'directory')
        .map((e) => e.path)
        .sort();
      assert.deepEqual(sent, [...c.expected].sort());
    });
  }

  it("takes a folder's answer for a name no rule could match, and it is always the matcher's own", () => {
    // Every pattern shape: plain, globs, `**` as a part and inside one, negations, escapes, regexp characters (read
    // literally), classes, rooted and dotted lines, a trailing slash.
    const patterns = [
      'data/',
      '**/__pycache__',
      '*.pyc',
      '!keep/*.pyc',
      'a**/b',
      'x/*/c',
      '[ab]c',
      'foo\\*',
      'a+b',
      '/rooted',
      './dotted',
      'q?z',
      '**/deep/**',
      '!**/deep/keep',
      'logs',
      '!logs/readme.md',
      '# comment',
      ' #hash',
      '',
      'n*/m*',
      'checkpoints/*.pt',
      '.git',
      'Dockerfile.*',
    ];
    const names = [
      'data',
      'b',
      'ab',
      'c',
      'bc',
      'foo*',
      'fooz',
      'a+b',
      'aab',
      'rooted',
      'dotted',
      'qaz',
      'q/z',
      'deep',
      'keep',
      'logs',
      'readme.md',
      'x.pyc',
      'nm',
      'm1',
      'n2',
      'model.pt',
      '.git',
      'Dockerfile.gpu',
      '__pycache__',
      'src',
      'a',
      'x',
      'n',
      'checkpoints',
      '#hash',
      '# comment',
    ];
    // Paths up to three deep over those names, every folder listed before what is in it, as the walk meets them.
    const paths: string[] = [];
    const grow = (prefix: string, depth: number): void => {
      for (const n of names.filter((x) => !x.includes('/'))) {
        const p = prefix ? `${prefix}/${n}` : n;
        paths.push(p);
        if (depth < 3 && ['data', 'a', 'x', 'deep', 'logs', 'keep', 'n2', 'src', 'checkpoints', '__pycache__', 'b'].includes(n))
          grow(p, depth + 1);
      }
    };
    grow('', 1);
    for (let k = 0; k < patterns.length; k++) {
      // Each prefix of the list and each single line: the fast path must agree whatever the mix.
      for (const set of [patterns.slice(0, k + 1), [patterns[k]!]]) {
        const matcher = dockerignoreMatcher(set);
        const could = nameCouldMatch(set);
        const answer = new Map<string, boolean>();
        for (const p of paths) {
          const slash = p.lastIndexOf('/');
          const name = p.slice(slash + 1);
          const fast = could(name) ? matcher.ignores(p) : slash < 0 ? false : answer.get(p.slice(0, slash))!;
          answer.set(p, fast);
          assert.equal(fast, matcher.ignores(p), `${JSON.stringify(set)}: ${p}`);
        }
      }
    }
    // And it does skip: with the scaffold's kind of rules, a plain source file is not asked about.
    assert.equal(nameCouldMatch(['data/', 'checkpoints/', '.git', '**/__pycache__'])('mod_1.py'), false);
  });

  it('never opens an ignored folder that no ! rule reaches into', async () => {
    const root = writeFixture({
      name: 'x',
      files: { Dockerfile: 'FROM x\n', '.dockerignore': 'data/\n', 'train.py': 'print(1)\n' },
      expected: [],
    });
    fs.mkdirSync(path.join(root, 'data'));
    // 2 GB that takes no disk: a sparse file. If the scan stat'ed or read it, totalBytes would show it.
    const big = fs.openSync(path.join(root, 'data', 'events.h5'), 'w');
    fs.ftruncateSync(big, 2 * 1024 ** 3);
    fs.closeSync(big);
    const scan = await scanContext(root, 'Dockerfile');
    assert.deepEqual(scan.skippedDirs, ['data']);
    assert.equal(scan.totalBytes, 'FROM x\n'.length + 'data/\n'.length + 'print(1)\n'.length);
  });

  it('sends symlinks as links and never follows them out of the context', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-outside-'));
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'do not send');
    const root = writeFixture({ name: 'x', files: { Dockerfile: 'FROM x\n' }, expected: [] });
    fs.symlinkSync(outside, path.join(root, 'escape'));
    const scan = await scanContext(root, 'Dockerfile');
    assert.deepEqual(
      scan.entries.map((e) => `${e.type} ${e.path}`),
      ['file Dockerfile', 'symlink escape'],
    );
    const names: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const x = extract();
      x.on('entry', (header, stream, next) => {
        names.push(`${header.type} ${header.name} ${header.uid}:${header.gid}${header.linkname ? ` -> ${header.linkname}` : ''}`);
        stream.on('end', next);
        stream.resume();
      });
      x.on('finish', resolve);
      x.on('error', reject);
      packContext(scan).pipe(x);
    });
    assert.deepEqual(names, ['file Dockerfile 0:0', `symlink escape 0:0 -> ${outside}`]);
  });

  it('refuses a Dockerfile outside the context with a way out', async () => {
    const root = writeFixture({ name: 'x', files: { 'sub/Dockerfile': 'FROM x\n' }, expected: [] });
    await assert.rejects(scanContext(path.join(root, 'sub', 'empty-does-not-matter', '..'), '../Dockerfile'), BuildContextError);
  });

  it('names the biggest folders and files first', async () => {
    const root = writeFixture({
      name: 'x',
      files: { Dockerfile: 'FROM x\n', 'models/a.bin': 'x'.repeat(5000), 'models/b.bin': 'x'.repeat(5000), 'notes.md': 'x'.repeat(100) },
      expected: [],
    });
    const top = biggestOffenders(await scanContext(root, 'Dockerfile'), 2);
    assert.deepEqual(top, [
      { path: 'models/', bytes: 10000 },
      { path: 'notes.md', bytes: 100 },
    ]);
  });
});

describe('packContext when the build that reads it is gone', () => {
  it('a file removed after the scan, with nobody reading the stream (a cancelled build), is no unhandled error', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-pack-gone-'));
    fs.writeFileSync(path.join(root, 'Dockerfile'), 'FROM scratch\n');
    fs.writeFileSync(path.join(root, 'train.py'), 'print(1)\n');
    const scan = await scanContext(root, 'Dockerfile');
    fs.rmSync(root, { recursive: true, force: true });
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      const stream = packContext(scan);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(stream.destroyed, true, 'the stream ended with the read error');
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    }
    assert.deepEqual(uncaught, []);
  });
});
