import * as assert from 'node:assert/strict';
import type * as GitApi from '../../../src/vscode/gitApi';
import { installFakeVscode, loadFresh } from '../../helpers/fakeVscode';

describe('VscodeGit (the built-in git extension behind our GitProvider)', () => {
  it('refreshes the repository before reading HEAD and dirty state, so a commit made in a terminal counts', async () => {
    const { record, uninstall } = installFakeVscode();
    try {
      // The git extension's state as its file watcher last saw it: the old HEAD and an uncommitted file.
      const state = {
        HEAD: { name: 'main', commit: 'a'.repeat(40) },
        remotes: [],
        workingTreeChanges: [{ uri: { fsPath: '/repo/train.py' } }],
        indexChanges: [],
        untrackedChanges: [],
      };
      let refreshed = 0;
      const repository = {
        state,
        status: async () => {
          refreshed++;
          state.HEAD = { name: 'main', commit: 'b'.repeat(40) };
          state.workingTreeChanges = [];
        },
      };
      record.extensions['vscode.git'] = { isActive: true, exports: { enabled: true, getAPI: () => ({ getRepository: () => repository }) } };
      const { VscodeGit } = loadFresh<typeof GitApi>('src/vscode/gitApi');
      const info = await new VscodeGit().info('/nonexistent-mlc-repo');
      assert.equal(refreshed, 1);
      assert.equal(info?.sha, 'b'.repeat(40));
      assert.equal(info?.dirty, false);
    } finally {
      uninstall();
    }
  });
});
