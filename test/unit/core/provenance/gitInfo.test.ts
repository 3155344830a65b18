import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GitCli, RevisionError, isCommitId } from '../../../../src/core/provenance/git';
import { git } from '../../../helpers/git';

// Real git in a temporary folder: what each build and run records of the commit it came from.
describe('GitCli.info (real git)', () => {
  let dir: string;
  const cli = new GitCli();
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-gitinfo-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is undefined outside a repository and in one without a commit', async () => {
    assert.equal(await cli.info(dir), undefined);
    git(dir, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(dir, 'a.py'), 'x = 1\n');
    assert.equal(await cli.info(dir), undefined);
  });

  it('gives the commit, the branch, the remote without its credentials and describe; untracked files make it dirty, .mlcontainers/ does not', async () => {
    git(dir, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(dir, 'a.py'), 'x = 1\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'first');
    git(dir, 'remote', 'add', 'origin', 'https://ada:tok3n@example.org/lab/dimuon.git');
    const sha = git(dir, 'rev-parse', 'HEAD');
    assert.deepEqual(await cli.info(dir), {
      sha,
      dirty: false,
      branch: 'main',
      remoteUrl: 'https://example.org/lab/dimuon.git',
      describe: sha.slice(0, 7),
    });
    fs.mkdirSync(path.join(dir, '.mlcontainers'));
    fs.writeFileSync(path.join(dir, '.mlcontainers', 'runs.jsonl'), '{}\n');
    assert.equal((await cli.info(dir))?.dirty, false, 'our own records made it dirty');
    fs.writeFileSync(path.join(dir, 'b.py'), 'y = 2\n');
    assert.equal((await cli.info(dir))?.dirty, true, 'an untracked file is in the build context');
    fs.rmSync(path.join(dir, 'b.py'));
    fs.appendFileSync(path.join(dir, 'a.py'), 'x = 2\n');
    assert.equal((await cli.info(dir))?.dirty, true, 'an edit');
  });

  it('has no branch on a detached HEAD', async () => {
    git(dir, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(dir, 'a.py'), 'x = 1\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'first');
    git(dir, 'checkout', '-q', '--detach');
    const info = await cli.info(dir);
    assert.equal(info?.sha, git(dir, 'rev-parse', 'HEAD'));
    assert.equal(info?.branch, undefined);
  });
});

// A revision comes from an image's label: a base image sets it when the project is not in git.
describe('GitCli.show and checkout (a revision from a label)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-gitrev-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A git that records its arguments, one call a line, and succeeds. */
  function recordingGit(): { cli: GitCli; calls: () => string[] } {
    const log = path.join(dir, 'calls.log');
    const bin = path.join(dir, 'git');
    fs.writeFileSync(bin, `#!/bin/sh\necho "$*" >> '${log}'\n`, { mode: 0o755 });
    return { cli: new GitCli(bin), calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) };
  }

  it('never hands git a revision that is not a full commit id (--output=/tmp/x, a branch, HEAD~1)', async () => {
    const { cli, calls } = recordingGit();
    for (const bad of ['--output=/tmp/x', '-p', 'main', 'HEAD~1', '3f2a1bc', `${'a'.repeat(40)}\n`, 'A'.repeat(40)]) {
      await assert.rejects(cli.show(dir, bad, 'Dockerfile'), RevisionError, JSON.stringify(bad));
      await assert.rejects(cli.checkout(dir, bad), RevisionError, JSON.stringify(bad));
    }
    assert.deepEqual(calls(), []);
    const sha = 'a'.repeat(40);
    await cli.show(dir, sha, 'Dockerfile');
    await cli.checkout(dir, sha);
    assert.deepEqual(calls(), [`show --end-of-options ${sha}:Dockerfile`, `switch --detach --end-of-options ${sha}`]);
  });

  it('shows a file at a commit and checks the commit out with real git (which takes --end-of-options)', async () => {
    git(dir, 'init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(dir, 'a.py'), 'x = 1\n');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-qm', 'first');
    const first = git(dir, 'rev-parse', 'HEAD');
    fs.writeFileSync(path.join(dir, 'a.py'), 'x = 2\n');
    git(dir, 'commit', '-qam', 'second');
    const cli = new GitCli();
    assert.equal(await cli.show(dir, first, 'a.py'), 'x = 1\n');
    assert.equal(await cli.show(dir, first, 'missing.py'), undefined);
    await cli.checkout(dir, first);
    assert.equal(git(dir, 'rev-parse', 'HEAD'), first);
    assert.ok(isCommitId(first) && isCommitId('b'.repeat(64)) && !isCommitId('b'.repeat(41)));
  });
});
