import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GitCli } from '../../src/core/provenance/git';
import { git } from '../helpers/git';

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
    assert.deepEqual(await cli.info(dir), { sha, dirty: false, branch: 'main', remoteUrl: 'https://example.org/lab/dimuon.git', describe: sha.slice(0, 7) });
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
