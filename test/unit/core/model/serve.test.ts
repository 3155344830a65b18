import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ContainerCreateRequest } from '../../../../src/core/docker/engine';
import { EngineError } from '../../../../src/core/docker/errors';
import { MODEL_LABELS, MODEL_ROLE } from '../../../../src/core/model/card';
import { PREDICT_PATH, SERVER_PATH, imageServes, servedModelName } from '../../../../src/core/model/layout';
import {
  SERVE_FILES_LABEL,
  curlCommand,
  exampleRequest,
  serveContainerRequest,
  serveModel,
  serversToStop,
  stopModelServers,
} from '../../../../src/core/model/serve';
import { MANAGED_LABEL, ROLE_LABEL } from '../../../../src/core/labels';
import { templatesDir } from '../../../../src/core/scaffold/templateFiles';
import { mlcInProcess } from '../../../helpers/cli';
import { imageDetails } from '../../../helpers/images';
import { recordingLogger } from '../../../helpers/logger';
import { FakeEngine } from '../../fakes/engine';

const RUN = '20261205-001122-ab12';
const MODEL = imageDetails({
  id: 'sha256:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e',
  repoTags: [`digits-model:${RUN}`],
  labels: { [ROLE_LABEL]: MODEL_ROLE, [MODEL_LABELS.run]: RUN },
});
const TOKEN = 'aaaabbbbccccddddeeeeffff0000111122223333444455556666';

describe('mlc serve: the serving container', () => {
  const input = (mount = true) => ({
    image: { ref: `digits-model:${RUN}`, details: MODEL },
    name: 'digits-model-serve-abc123',
    model: 'digits-model',
    token: TOKEN,
    workspace: '/w',
    ...(mount ? { mount: { server: '/t/model/serve.py', predict: '/tmp/mlc-serve-abc123/predict.py', dir: '/tmp/mlc-serve-abc123' } } : {}),
  });

  it('publishes the server on 127.0.0.1 only, at a port the engine picks or the one asked for', () => {
    assert.deepEqual(serveContainerRequest(input()).HostConfig?.PortBindings, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    assert.deepEqual(serveContainerRequest(input(), 9123).HostConfig?.PortBindings, {
      '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '9123' }],
    });
  });

  it('gives the token through the environment only: no label, no argument carries it', () => {
    const r = serveContainerRequest(input());
    assert.ok(r.Env?.includes(`MLC_SERVE_TOKEN=${TOKEN}`));
    assert.ok(!Object.values(r.Labels ?? {}).some((v) => v.includes(TOKEN)));
    assert.ok(!JSON.stringify([r.Cmd, r.Entrypoint]).includes(TOKEN));
    assert.equal(r.Labels?.[ROLE_LABEL], 'serve');
    assert.equal(r.Labels?.[MANAGED_LABEL], 'true');
  });

  it('runs serve.py on 0.0.0.0 inside, with the two host files read-only where the image has none, and no workspace', () => {
    const r = serveContainerRequest(input());
    assert.match(String(r.Entrypoint?.[2]), new RegExp(`exec python3 ${SERVER_PATH}`));
    assert.deepEqual(r.Cmd?.slice(0, 4), ['--host', '0.0.0.0', '--port', '8080']);
    assert.deepEqual(r.HostConfig?.Binds, [`/t/model/serve.py:${SERVER_PATH}:ro`, `/tmp/mlc-serve-abc123/predict.py:${PREDICT_PATH}:ro`]);
    assert.equal(r.Labels?.[SERVE_FILES_LABEL], '/tmp/mlc-serve-abc123');
    assert.deepEqual(serveContainerRequest(input(false)).HostConfig?.Binds, []);
    assert.equal(r.HostConfig?.DeviceRequests, undefined);
  });

  it("names the model by its repository's last component, from the reference or the image's tags", () => {
    assert.equal(servedModelName(`digits-model:${RUN}`, MODEL), 'digits-model');
    assert.equal(servedModelName('localhost:5000/team/digits-model:champion', MODEL), 'digits-model');
    assert.equal(servedModelName(MODEL.id, MODEL), 'digits-model');
    assert.equal(servedModelName(MODEL.id, { repoTags: [] }), 'model');
  });

  it('knows an image that carries the server by its CMD', () => {
    assert.equal(imageServes({ cmd: ['python3', SERVER_PATH, '--host', '0.0.0.0'] }), true);
    assert.equal(imageServes({ cmd: ['bash'] }), false);
    assert.equal(imageServes({}), false);
  });

  it('a curl example: zeros of the declared shapes (-1 as 1), nothing from names that are not plain words', () => {
    assert.deepEqual(
      exampleRequest({
        inputs: [
          { name: 'pixels', datatype: 'FP32', shape: [-1, 2] },
          { name: 'flag', datatype: 'BOOL', shape: [1] },
        ],
      }),
      {
        inputs: [
          { name: 'pixels', shape: [1, 2], datatype: 'FP32', data: [0, 0] },
          { name: 'flag', shape: [1], datatype: 'BOOL', data: [false] },
        ],
      },
    );
    assert.equal(exampleRequest({ inputs: [{ name: "x'; rm -rf ~; '", datatype: 'FP32', shape: [1] }] }), undefined);
    assert.equal(exampleRequest({ name: 'no inputs declared' }), undefined);
    assert.equal(exampleRequest({ inputs: [{ name: 'huge', datatype: 'FP32', shape: [100000] }] }), undefined);
  });
});

describe('serveModel against a fake engine and a fake server', () => {
  let engine: FakeEngine;
  let server: http.Server;
  let workspace: string;
  let ready: number;
  const seen: { url: string; auth: string | undefined }[] = [];
  const lines: string[] = [];
  const creates: ContainerCreateRequest[] = [];

  beforeEach(async () => {
    engine = new FakeEngine();
    engine.images.set(`digits-model:${RUN}`, MODEL);
    engine.images.set('plain:latest', imageDetails({ repoTags: ['plain:latest'] }));
    creates.length = 0;
    lines.length = 0;
    seen.length = 0;
    ready = 200;
    const create = engine.createContainer.bind(engine);
    engine.createContainer = (request) => (creates.push(request), create(request));
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization });
      if (req.url === '/v2/health/ready') res.statusCode = ready;
      else if (req.headers.authorization !== `Bearer ${tokenOf(creates.at(-1))}`) res.statusCode = 401;
      res.end(JSON.stringify({ name: 'digits-model', inputs: [{ name: 'pixels', datatype: 'FP32', shape: [-1, 64] }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const start = engine.startContainer.bind(engine);
    engine.startContainer = async (id) => {
      await start(id);
      engine.containers.get(id)!.ports = {
        '8080/tcp': [{ hostIp: '127.0.0.1', hostPort: String((server.address() as AddressInfo).port) }],
      };
    };
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-serve-unit-'));
    fs.writeFileSync(path.join(workspace, 'predict.py'), 'def load(d): pass\ndef predict(m, i): return []\n');
  });

  afterEach(async () => {
    await new Promise((r) => server.close(r));
    fs.rmSync(workspace, { recursive: true, force: true });
  });

  const tokenOf = (r: ContainerCreateRequest | undefined): string | undefined =>
    r?.Env?.find((e) => e.startsWith('MLC_SERVE_TOKEN='))?.slice('MLC_SERVE_TOKEN='.length);
  const serve = (over: Partial<Parameters<typeof serveModel>[0]> = {}) =>
    serveModel({
      engine,
      model: `digits-model:${RUN}`,
      workspace,
      templatesDir: templatesDir(),
      readyTimeoutMs: 3000,
      log: recordingLogger(lines, 'serve'),
      ...over,
    });

  it("mounts a private copy of the project's predict.py and our serve.py when the image has none, waits for ready, then checks the token", async () => {
    const s = await serve();
    const token = tokenOf(creates[0]);
    const copy = creates[0]!.Labels?.[SERVE_FILES_LABEL];
    assert.equal(path.dirname(copy ?? ''), os.tmpdir());
    assert.equal(fs.readFileSync(path.join(copy!, 'predict.py'), 'utf8'), fs.readFileSync(path.join(workspace, 'predict.py'), 'utf8'));
    assert.equal(s.token, token);
    assert.match(token ?? '', /^[0-9a-f]{48}$/);
    assert.equal(s.baseUrl, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    assert.equal(s.model, 'digits-model');
    assert.deepEqual(creates[0]!.HostConfig?.Binds, [
      `${path.join(templatesDir(), 'model', 'serve.py')}:${SERVER_PATH}:ro`,
      `${path.join(copy!, 'predict.py')}:${PREDICT_PATH}:ro`,
    ]);
    assert.deepEqual(
      seen.map((r) => r.url),
      ['/v2/health/ready', '/v2/models/digits-model'],
    );
    assert.equal(seen[1]!.auth, `Bearer ${token}`);
    assert.ok(!lines.join('\n').includes(token!), 'the token reached the log');
    assert.match(
      await curlCommand(s),
      new RegExp(
        `^curl -s -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' -d '\\{"inputs":\\[\\{"name":"pixels","shape":\\[1,64\\],"datatype":"FP32","data":\\[0(,0){63}\\]\\}\\]\\}' http://127\\.0\\.0\\.1:\\d+/v2/models/digits-model/infer$`,
      ),
    );
    await stopModelServers(engine, [s]);
    assert.equal(fs.existsSync(copy!), false, 'the copy outlived its server');
  });

  it('serves an image that carries the server as it is: nothing mounted', async () => {
    engine.images.set(`digits-model:${RUN}`, { ...MODEL, cmd: ['python3', SERVER_PATH, '--host', '0.0.0.0'] });
    fs.rmSync(path.join(workspace, 'predict.py'));
    await serve();
    assert.deepEqual(creates[0]!.HostConfig?.Binds, []);
  });

  it('refuses, in one sentence, an image that is not there, one that is not a model, and a project without predict.py', async () => {
    await assert.rejects(serve({ model: 'nope:1' }), /^ServeError: No image nope:1 on this engine: `mlc models` lists the model images/);
    await assert.rejects(
      serve({ model: 'plain:latest' }),
      /plain:latest is not a model image \(it has no org\.mlcontainers\.role=model label\): save a run as a model with `mlc model save RUN`/,
    );
    fs.rmSync(path.join(workspace, 'predict.py'));
    await assert.rejects(
      serve(),
      /The model image carries no predict\.py and .* has none: run `mlc serve` in the project folder \(--dir\), or pass --predict FILE\./,
    );
    assert.equal(creates.length, 0);
  });

  it('refuses a predict.py that is a link or a hard link (a run could have made one to a host file), before any container', async () => {
    const secret = path.join(workspace, '..', `${path.basename(workspace)}-secret`);
    fs.writeFileSync(secret, 'PRIVATE KEY\n');
    try {
      fs.rmSync(path.join(workspace, 'predict.py'));
      fs.symlinkSync(secret, path.join(workspace, 'predict.py'));
      await assert.rejects(
        serve(),
        /predict\.py is a link, and a model takes only a plain predict\.py \(a run could have made the link\): put the file itself there\./,
      );
      fs.rmSync(path.join(workspace, 'predict.py'));
      fs.linkSync(secret, path.join(workspace, 'predict.py'));
      await assert.rejects(serve(), /predict\.py is a hard link to another file, not a plain predict\.py/);
      assert.equal(creates.length, 0);
    } finally {
      fs.rmSync(secret, { force: true });
    }
  });

  it('a port that is taken is one sentence, and the refused container is removed', async () => {
    engine.startError = new EngineError(
      'Docker engine answered: driver failed programming external connectivity: Bind for 127.0.0.1:9123 failed: port is already allocated',
      'api',
      500,
    );
    await assert.rejects(
      serve({ port: 9123 }),
      /^ServeError: Port 9123 on 127\.0\.0\.1 is taken: pass another --port, or leave it out and the engine picks a free one\.$/,
    );
    assert.equal(engine.containers.size, 0);
  });

  it('a server not ready in time says so with its last log lines, and its container is removed', async () => {
    ready = 503;
    engine.runScript = () => ({ output: 'loading model.pt\n', exitCode: 0 });
    await assert.rejects(serve({ readyTimeoutMs: 300 }), (e: Error) =>
      /was not ready within 0 s \(--timeout\); its last lines:\nloading model\.pt$/.test(e.message),
    );
    assert.equal(engine.containers.size, 0);
    assert.equal(fs.existsSync(creates[0]!.Labels![SERVE_FILES_LABEL]!), false, 'the copy of predict.py was left behind');
  });

  it('--stop: a model stops its servers; a container mlc serve did not start is refused', async () => {
    const s = await serve();
    assert.deepEqual(
      (await serversToStop(engine, `digits-model:${RUN}`)).map((x) => x.containerId),
      [s.containerId],
    );
    assert.deepEqual(
      (await serversToStop(engine, s.containerId)).map((x) => x.containerId),
      [s.containerId],
    );
    const other = await engine.createContainer({ name: 'someone-else', Image: 'x', Labels: {} });
    await assert.rejects(serversToStop(engine, other), /Container c2 is not a model server `mlc serve` started/);
    await assert.rejects(serversToStop(engine, 'ghost'), /No model server and no image ghost on this engine/);
    await stopModelServers(engine, [s]);
  });
});

describe('mlc serve: usage', () => {
  it('wants one model and a port number; those are usage errors (exit 2) before the engine is asked', async () => {
    const env = { DOCKER_HOST: 'unix:///nonexistent.sock' };
    assert.equal((await mlcInProcess(['serve'], env)).code, 2);
    const port = await mlcInProcess(['serve', 'm:1', '--port', '99999'], env);
    assert.equal(port.code, 2);
    assert.match(port.err, /--port wants a port number \(1-65535\), not "99999"/);
    assert.equal((await mlcInProcess(['serve', '--stop'], env)).code, 2);
  });
});
