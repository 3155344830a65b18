// The CLI's V8 code cache (src/cli/codeCache.ts): small bundles in a temporary dist/ are loaded through it, as
// dist/cli.js loads dist/mlc.js and dockerode.js, each time in a fresh process (test/helpers/codeCacheRun.ts).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { codeCacheDir, codeCacheFile } from '../../../src/cli/codeCache';

const ROOT = path.resolve(__dirname, '../../..');

describe('the CLI code cache', function () {
  this.timeout(20_000);
  let tmp: string;
  let dist: string;
  let cache: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-code-cache-'));
    dist = path.join(tmp, 'dist');
    cache = path.join(tmp, 'cache', 'ml-containers', 'v8');
    fs.mkdirSync(dist);
    // A bundle that requires a vendored file beside it, as mlc.js requires ./dockerode.js, and a built-in.
    fs.writeFileSync(
      path.join(dist, 'mlc.js'),
      "#!/usr/bin/env node\nconst v = require('./vendored.js');\nexports.answer = () => `${v.word} ${require('node:path').basename(__filename)}`;\n",
    );
    fs.writeFileSync(path.join(dist, 'vendored.js'), "exports.loads = (exports.loads ?? 0) + 1;\nexports.word = 'forty-two';\n");
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const run = (command = 'model', from = dist): { answer: string; pending: string[]; loadsOfVendored: number } =>
    JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/codeCacheRun.ts'), cache, command, from], {
        cwd: ROOT,
        encoding: 'utf8',
      }),
    ) as { answer: string; pending: string[]; loadsOfVendored: number };
  const files = (): string[] => (fs.existsSync(cache) ? fs.readdirSync(cache).sort() : []);

  it('lives in $XDG_CACHE_HOME/ml-containers/v8, else ~/.cache/ml-containers/v8', () => {
    assert.equal(codeCacheDir({ XDG_CACHE_HOME: '/x/cache' }, '/home/u'), '/x/cache/ml-containers/v8');
    assert.equal(codeCacheDir({}, '/home/u'), '/home/u/.cache/ml-containers/v8');
  });

  it('runs the bundles the first time and writes one cache per bundle and command, for the user alone', () => {
    const first = run();
    assert.equal(first.answer, 'forty-two mlc.js', 'the bundle ran, with its own __filename and its vendored file');
    assert.equal(first.loadsOfVendored, 1, 'a vendored file required by the bundle and by the caller is loaded once');
    assert.equal(first.pending.length, 2);
    assert.deepEqual(
      files().map((f) => f.replace(/\.[0-9a-f]{8}\.[0-9a-f]{32}\.bin$/, '')),
      ['mlc.model', 'vendored.model'],
    );
    assert.equal(fs.statSync(cache).mode & 0o777, 0o700);
    for (const f of files()) assert.equal(fs.statSync(path.join(cache, f)).mode & 0o777, 0o600);
  });

  it('uses the cache the next time and writes nothing; another command keeps its own', () => {
    run();
    const written = files().map((f) => fs.statSync(path.join(cache, f)).ino);
    const second = run();
    assert.equal(second.answer, 'forty-two mlc.js');
    assert.deepEqual(second.pending, [], 'V8 took both caches');
    assert.deepEqual(
      files().map((f) => fs.statSync(path.join(cache, f)).ino),
      written,
    );
    run('runs');
    assert.equal(files().length, 4);
  });

  it('keys the cache by the text: a bundle changed to the same length gets a cache of its own, the old one is removed', () => {
    run();
    const source = fs.readFileSync(path.join(dist, 'vendored.js'), 'utf8');
    const before = codeCacheFile(cache, path.join(dist, 'vendored.js'), 'model', source);
    fs.writeFileSync(path.join(dist, 'vendored.js'), source.replace('forty-two', 'forty-one'));
    const after = run();
    assert.equal(after.answer, 'forty-one mlc.js', 'the new text ran, not the cached one');
    assert.deepEqual(after.pending, [
      path.basename(codeCacheFile(cache, path.join(dist, 'vendored.js'), 'model', source.replace('forty-two', 'forty-one'))),
    ]);
    assert.ok(!fs.existsSync(before), "the old text's cache is gone");
    assert.equal(files().length, 2);
  });

  it('a cache V8 refuses (garbage) is run without, and replaced', () => {
    run();
    const file = path.join(
      cache,
      files().find((f) => f.startsWith('mlc.'))!,
    );
    fs.writeFileSync(file, Buffer.alloc(4096, 7));
    const again = run();
    assert.equal(again.answer, 'forty-two mlc.js');
    assert.deepEqual(again.pending, [path.basename(file)]);
    assert.notDeepEqual(fs.readFileSync(file), Buffer.alloc(4096, 7));
  });

  it('never reads a cache through a link, and replaces the link rather than writing through it', () => {
    run();
    const file = path.join(
      cache,
      files().find((f) => f.startsWith('mlc.'))!,
    );
    const elsewhere = path.join(tmp, 'elsewhere.bin');
    fs.copyFileSync(file, elsewhere);
    const original = fs.readFileSync(elsewhere);
    fs.rmSync(file);
    fs.symlinkSync(elsewhere, file);
    const again = run();
    assert.deepEqual(again.pending, [path.basename(file)], 'the link was not read');
    assert.ok(fs.lstatSync(file).isFile(), 'the link was replaced by a file');
    assert.deepEqual(fs.readFileSync(elsewhere), original, 'nothing was written through the link');
  });

  it('a folder that cannot be written leaves the run uncached, and says nothing', () => {
    fs.mkdirSync(path.dirname(cache), { recursive: true });
    fs.writeFileSync(cache, 'a file where the folder goes');
    const first = run();
    assert.equal(first.answer, 'forty-two mlc.js');
    assert.equal(fs.readFileSync(cache, 'utf8'), 'a file where the folder goes');
  });

  it("two installs of the same bundle keep caches of their own, and neither removes the other's", () => {
    // A cached script keeps the path it was cached under; the extension's mlc and npm's must not take turns.
    run();
    const other = path.join(tmp, 'other');
    fs.cpSync(dist, path.join(other, 'dist'), { recursive: true });
    const mine = files();
    assert.deepEqual(run('model', path.join(other, 'dist')).pending.length, 2);
    assert.equal(files().length, 4);
    assert.ok(
      mine.every((f) => files().includes(f)),
      "the first install's caches are still there",
    );
    assert.deepEqual(run().pending, [], 'and still used');
  });

  it('a command name that could not be a command shares one cache name', () => {
    assert.match(path.basename(codeCacheFile(cache, '/d/mlc.js', '../../etc', 'x')), /^mlc\._\.[0-9a-f]{8}\.[0-9a-f]{32}\.bin$/);
    assert.match(path.basename(codeCacheFile(cache, '/d/mlc.js', 'slurm-task', 'x')), /^mlc\.slurm-task\.[0-9a-f]{8}\.[0-9a-f]{32}\.bin$/);
  });
});
