// The model server (templates/model/serve.py) is Python: its own tests (test/python/test_serve.py) run with this
// machine's python3, in the unit tier, and fail here with their output.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../../..');

describe('the model server, templates/model/serve.py (python3 -m unittest)', function () {
  this.timeout(120_000);

  it('passes test/python/test_serve.py: 200s, 401, 400 then 200, 500 then 200, 413, 8 concurrent clients', function () {
    const version = spawnSync('python3', ['--version'], { encoding: 'utf8' });
    if (version.error || version.status !== 0) {
      console.log('      skipped: no python3 on PATH to run test/python/test_serve.py');
      this.skip();
    }
    // `discover` rather than a file path: `test` is also the standard library's package, so test/python/... as a
    // module name would import from there.
    const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', 'test/python', '-p', 'test_serve.py', '-v'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 110_000,
    });
    const output = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 0, `python3 -m unittest failed (${r.error?.message ?? `exit ${String(r.status)}`}):\n${output}`);
    const ran = /Ran (\d+) tests?/.exec(output);
    assert.ok(ran && Number(ran[1]) >= 10, `fewer tests ran than test_serve.py holds:\n${output}`);
  });
});
