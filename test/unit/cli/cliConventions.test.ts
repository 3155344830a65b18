import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mlcInProcess as run } from '../../helpers/cli';

const packageVersion = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string })
  .version;

describe('mlc conventions: version, help, exit codes, --json', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-conventions-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('--version and -V print the version package.json names, on stdout, exit 0', async () => {
    for (const flag of ['--version', '-V']) {
      assert.deepEqual(await run([flag]), { code: 0, out: packageVersion, err: '' });
    }
  });

  it('`mlc help COMMAND` prints what `mlc COMMAND --help` prints; an unknown topic is a usage error', async () => {
    for (const name of ['build', 'doctor', 'export', 'push']) {
      const viaHelp = await run(['help', name]);
      assert.equal(viaHelp.code, 0);
      assert.equal(viaHelp.out, (await run([name, '--help'])).out);
      assert.match(viaHelp.out, new RegExp(`^mlc ${name} `));
    }
    const unknown = await run(['help', 'frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown command "frobnicate"/);
  });

  it('`mlc help` and --help print the usage with the exit codes on stdout (exit 0); no command prints it on stderr (exit 2)', async () => {
    for (const args of [['help'], ['--help'], ['-h']]) {
      const r = await run(args);
      assert.equal(r.code, 0);
      assert.match(r.out, /Exit codes: 0 done; 1 failed .*; 2 usage error/);
    }
    const bare = await run([]);
    assert.equal(bare.code, 2);
    assert.equal(bare.out, '');
    assert.match(bare.err, /Usage: mlc <command>/);
  });

  it('a choice the catalog does not offer is a usage error (exit 2) and nothing is written', async () => {
    const cases: [string[], RegExp][] = [
      [['--preset', 'nope'], /Unknown preset "nope"; choose one of: pytorch/],
      [['--preset', 'pytorch', '--framework-version', '9.9'], /PyTorch 9\.9 is not in the catalog/],
      [['--preset', 'atlas', '--variant', 'gpu'], /has no GPU variant; choose cpu/],
      [['--preset', 'pytorch', '--jupyter-port', 'abc'], /--jupyter-port wants a port number/],
      [['--preset', 'pytorch', '--variant', 'cpu', '--pip', 'bad!'], /"bad!" is not a pip requirement/],
    ];
    for (const [args, message] of cases) {
      const r = await run(['init', ...args, '--dir', dir]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
    }
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('a malformed --build-arg is a usage error (exit 2), said before the engine is asked', async () => {
    const r = await run(['build', '--dir', dir, '--build-arg', 'NOEQUALS'], { DOCKER_HOST: 'unix:///nonexistent.sock' });
    assert.equal(r.code, 2);
    assert.match(r.err, /--build-arg "NOEQUALS": expected NAME=VALUE/);
  });

  it('with --json, a failure is {"error": <the sentence>} on stdout, the same sentence on stderr, the same exit code', async () => {
    const failed = await run(['build', '--dir', dir, '--json']);
    assert.equal(failed.code, 1);
    const { error } = JSON.parse(failed.out) as { error: string };
    assert.match(error, /devcontainer\.json not found: run "New ML Environment" \(mlc init\) first\./);
    assert.equal(failed.err, `mlc build: ${error}`);

    const usage = await run(['init', '--preset', 'nope', '--dir', dir, '--json']);
    assert.equal(usage.code, 2);
    assert.match((JSON.parse(usage.out) as { error: string }).error, /^Unknown preset "nope"/);

    const plain = await run(['build', '--dir', dir]);
    assert.equal(plain.out, '', 'without --json, stdout stays empty on failure');
  });

  it('`mlc init --json` reports the base and each planned file as one object', async () => {
    const r = await run(['init', '--preset', 'pytorch', '--variant', 'cpu', '--dir', dir, '--json']);
    assert.equal(r.code, 0, r.err);
    const report = JSON.parse(r.out) as {
      base: string;
      baseImage: string;
      files: { path: string; action: string; note: string }[];
      written: number;
    };
    assert.match(report.base, /^PyTorch [\d.]+ \(cpu\) on python:3\.\d+-slim/);
    assert.match(report.baseImage, /^python:3\.\d+-slim$/);
    assert.deepEqual(report.files.map((f) => [f.path, f.action]).sort(), [
      ['.devcontainer/Dockerfile', 'create'],
      ['.devcontainer/devcontainer.json', 'create'],
      ['.dockerignore', 'create'],
      ['configs/experiment.yaml', 'create'],
      ['predict.py', 'create'],
      ['requirements.txt', 'create'],
    ]);
    assert.equal(report.written, 6);
    assert.ok(fs.existsSync(path.join(dir, '.devcontainer', 'devcontainer.json')));
  });

  it('doctor --json with no engine at the endpoint prints {"endpoint", "error"} on stdout and exits 1', async () => {
    const r = await run(['doctor', '--json'], { DOCKER_HOST: `unix://${path.join(dir, 'no-engine.sock')}` });
    assert.equal(r.code, 1);
    const report = JSON.parse(r.out) as { endpoint: string; error: string };
    assert.deepEqual(Object.keys(report), ['endpoint', 'error']);
    assert.equal(report.endpoint, `unix://${path.join(dir, 'no-engine.sock')} via DOCKER_HOST`);
    assert.match(report.error, /not running at unix:\/\/.*no-engine\.sock: start Docker/);
    assert.equal(r.err, `mlc doctor: ${report.error}`);
  });
});
