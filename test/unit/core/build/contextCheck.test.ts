import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildExperiment } from '../../../../src/core/build/buildExperiment';
import { addToDockerignore, checkContext, ignoreLineFor, LeakyContextError } from '../../../../src/core/build/contextCheck';
import { scanContext } from '../../../../src/core/docker/buildContext';
import { loadTemplates } from '../../../../src/core/scaffold/templateFiles';
import { writeFixture } from '../../../fixtures/contextCases';
import { recordingLogger } from '../../../helpers/logger';
import { devcontainerProject } from '../../../helpers/project';
import { FakeEngine } from '../../fakes/engine';

const TEMPLATES = path.resolve(__dirname, '../../../../templates');

/** Everything the check should name, at the root and deeper. */
const SECRETS = [
  '.env',
  '.env.production',
  'src/.env',
  'deploy/tls.pem',
  'deploy/tls.key',
  'certs/client.p12',
  'id_rsa',
  'keys/id_ed25519',
  '.netrc',
  '.git-credentials',
  '.pypirc',
  'credentials.json',
  'gcp/service-account-prod.json',
  '.aws/credentials',
  '.aws/config',
  '.kaggle/kaggle.json',
  'home/.huggingface/token',
  '.ssh/known_hosts',
];
/** Look alike, are not secrets. */
const HARMLESS = ['.env.example', 'id_rsa.pub', 'src/environment.py', 'keys.md', 'configs/credentials.yaml.md', 'train.py'];

function sparse(file: string, bytes: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, bytes);
  fs.closeSync(fd);
}

function project(files: string[], dockerignore?: string): string {
  const root = writeFixture({
    name: 'x',
    files: {
      Dockerfile: 'FROM x\n',
      ...Object.fromEntries(files.map((f) => [f, 'x'])),
      ...(dockerignore === undefined ? {} : { '.dockerignore': dockerignore }),
    },
    expected: [],
  });
  return root;
}

const sent = async (root: string): Promise<string[]> =>
  (await scanContext(root, 'Dockerfile')).entries.filter((e) => e.type !== 'directory').map((e) => e.path);

describe('the build context check', () => {
  it('names secret-looking files, credential folders once each, and files over 100 MB, with the line that ignores each', async () => {
    const root = project([...SECRETS, ...HARMLESS]);
    sparse(path.join(root, 'outputs', 'run1', 'model.pt'), 150 * 1000 ** 2);
    sparse(path.join(root, 'data', 'small.h5'), 100 * 1000 ** 2);
    const findings = checkContext(await scanContext(root, 'Dockerfile'));
    const byPath = new Map(findings.map((f) => [f.path, f]));
    const expectedSecrets = [
      ...SECRETS.filter((s) => !/^(\.aws|\.kaggle|home\/\.huggingface|\.ssh)\//.test(s)),
      '.aws/',
      '.kaggle/',
      'home/.huggingface/',
      '.ssh/',
    ];
    assert.deepEqual(
      findings
        .filter((f) => f.kind === 'secret')
        .map((f) => f.path)
        .sort(),
      expectedSecrets.sort(),
    );
    assert.deepEqual(
      findings.filter((f) => f.kind === 'large').map((f) => `${f.path} ${f.bytes}`),
      [`outputs/run1/model.pt ${150 * 1000 ** 2}`],
    );
    assert.equal(byPath.get('.aws/')?.bytes, 2, 'the folder holds two one-byte files');
    assert.equal(byPath.get('.env')?.ignoreLine, '.env');
  });

  it("offers lines that, appended, keep each named file out of the next build's context", async () => {
    const odd = ['#notes.pem', '!bang.key', 'a[1].key', 'star*.pem', 'q?.key'];
    const root = project([...SECRETS, ...HARMLESS, ...odd], '# mine\n*.log\n!keep.log');
    sparse(path.join(root, 'outputs', 'run1', 'model.pt'), 150 * 1000 ** 2);
    const findings = checkContext(await scanContext(root, 'Dockerfile'));
    assert.ok(
      odd.every((o) => findings.some((f) => f.path === o)),
      'an oddly named file was not named',
    );
    await addToDockerignore(
      root,
      findings.map((f) => f.ignoreLine),
    );
    const after = await scanContext(root, 'Dockerfile');
    assert.deepEqual(checkContext(after), []);
    assert.deepEqual(
      (await sent(root)).sort(),
      ['.dockerignore', 'Dockerfile', ...HARMLESS].sort(),
      'a harmless file was ignored too, or a secret was not',
    );
    assert.ok(
      fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').startsWith('# mine\n*.log\n!keep.log\n'),
      "the user's lines changed",
    );
  });

  it('appends only what is missing, keeps CRLF files CRLF, and adds a line again after a later ! rule', async () => {
    const root = project([]);
    assert.deepEqual(await addToDockerignore(root, ['.env', '.env']), ['.env']);
    assert.equal(fs.readFileSync(path.join(root, '.dockerignore'), 'utf8'), '.env\n');
    assert.deepEqual(await addToDockerignore(root, ['.env', 'a.pem']), ['a.pem']);
    assert.equal(fs.readFileSync(path.join(root, '.dockerignore'), 'utf8'), '.env\na.pem\n');

    fs.writeFileSync(path.join(root, '.dockerignore'), '.env\r\n!.env\r\ndata/');
    assert.deepEqual(await addToDockerignore(root, ['.env', 'data/']), ['.env']);
    assert.equal(fs.readFileSync(path.join(root, '.dockerignore'), 'utf8'), '.env\r\n!.env\r\ndata/\r\n.env\r\n');
    assert.deepEqual(
      fs.readdirSync(root).filter((f) => f.endsWith('.tmp')),
      [],
      'a temporary file was left behind',
    );
  });

  it('escapes glob characters and a leading # or ! so a line means exactly its file', () => {
    assert.equal(ignoreLineFor('a[1]/b*.key'), 'a\\[1]/b\\*.key');
    assert.equal(ignoreLineFor('#x.pem'), '\\#x.pem');
    assert.equal(ignoreLineFor('!x.key'), '\\!x.key');
  });

  it("finds nothing in a project with the scaffold's .dockerignore, which leaves all of it out", async () => {
    const template = (await loadTemplates(TEMPLATES)).templates.dockerignore;
    const leaks = [
      'outputs/run1/model.pt',
      'lightning_logs/v0/x.ckpt',
      'src/__pycache__/a.pyc',
      'src/.ipynb_checkpoints/n.ipynb',
      'wandb/run/files.txt',
      'mlruns/0/meta.yaml',
      'dvclive/metrics.json',
      'runs/exp/events.out',
      'models/w.safetensors',
      'models/w.onnx',
      'models/w.pth',
      '.venv/bin/python',
      '.pytest_cache/v',
      '.mlcontainers/locks/a.txt',
    ];
    const root = project([...SECRETS, ...HARMLESS, ...leaks], template);
    const scan = await scanContext(root, 'Dockerfile');
    assert.deepEqual(checkContext(scan), []);
    // The scaffold ignores every .env.* and id_rsa*, the harmless ones among them too.
    const kept = HARMLESS.filter((h) => h !== '.env.example' && h !== 'id_rsa.pub');
    assert.deepEqual(
      scan.entries
        .filter((e) => e.type !== 'directory')
        .map((e) => e.path)
        .sort(),
      ['.dockerignore', 'Dockerfile', ...kept].sort(),
    );
  });
});

describe('a build whose context holds a secret', () => {
  let dir: string;
  beforeEach(() => {
    dir = devcontainerProject('FROM python:3.11-slim\nCOPY . /workspace\n', { '.env': 'x', 'train.py': 'x' });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('warns naming the file and the .dockerignore line, and tells the shell before sending', async () => {
    const lines: string[] = [];
    const engine = new FakeEngine();
    const told: string[] = [];
    const result = await buildExperiment({
      folder: dir,
      engine,
      git: { info: async () => undefined },
      log: recordingLogger(lines, 'build'),
      lock: false,
      onContextFindings: (f, root) => told.push(...f.map((x) => `${root} ${x.path}`)),
    });
    assert.deepEqual(
      engine.calls.filter((c) => c === 'build'),
      ['build'],
    );
    assert.deepEqual(
      result.contextFindings.map((f) => f.path),
      ['.env'],
    );
    assert.deepEqual(told, [`${path.resolve(dir)} .env`]);
    assert.ok(
      lines.some(
        (l) => l.startsWith('warn ') && l.includes('.env looks like a secret') && l.endsWith('add this line to .dockerignore: .env'),
      ),
      lines.join('\n'),
    );
  });

  it('in strict mode refuses before anything is sent, naming the file', async () => {
    const engine = new FakeEngine();
    await assert.rejects(
      buildExperiment({
        folder: dir,
        engine,
        git: { info: async () => undefined },
        log: recordingLogger([], 'build'),
        lock: false,
        strict: true,
      }),
      (e: unknown) =>
        e instanceof LeakyContextError &&
        /^Not building: the build context holds \.env \(looks like a secret\)\. Add this line to \.dockerignore: \.env/.test(e.message) &&
        e.contextRoot === path.resolve(dir),
    );
    assert.deepEqual(
      engine.calls.filter((c) => c === 'build'),
      [],
    );
  });
});
