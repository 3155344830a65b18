// `mlc serve`: a tiny model image (weights in /opt/mlc/model, FROM the Python stand-in) served over the V2 REST
// protocol by dist/cli.js, and asked questions the way a client would: over keep-alive connections to 127.0.0.1.
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { packFiles } from '../../src/core/docker/buildContext';
import type { Engine } from '../../src/core/docker/engine';
import { MODEL_DIR, MODEL_LABELS, MODEL_ROLE } from '../../src/core/model/card';
import { SERVER_PATH, serveDockerfileLines } from '../../src/core/model/layout';
import { ROLE_LABEL } from '../../src/core/labels';
import { readRuns } from '../../src/core/run/records';
import { PYTORCH_STANDIN } from '../../src/core/scaffold/quickstart';
import { assertBuiltCli, mlc, mlcProcess } from '../helpers/mlc';
import { engineKind, requireEngine, requireImage } from './harness';

const PYTHON = 'mlc-test/jupyter:bookworm';
const RUN = '20261205-010203-beef';
// A linear model: each row's score is its dot product with the weights load() reads from the model folder.
const WEIGHTS = [0.5, -2, 3];
const PREDICT = `import json, os
INPUTS = [{"name": "x", "datatype": "FP64", "shape": [-1, 3]}]
OUTPUTS = [{"name": "score", "datatype": "FP64", "shape": [-1]}]

def load(model_dir):
    with open(os.path.join(model_dir, "weights.json")) as f:
        return json.load(f)

def predict(model, inputs):
    rows = inputs["x"]
    if rows and rows[0][0] < 0:
        raise ValueError("the first value must not be negative")
    return {"score": [sum(w * v for w, v in zip(model, row)) for row in rows]}
`;

type Served = { url: string; model: string; token: string; curl: string; container: string; port: number };
type Answer = { status: number; body: Record<string, unknown> };

/** One request on `agent` (keep-alive), JSON in and out. */
function call(agent: http.Agent, method: string, url: string, o: { token?: string; body?: unknown; raw?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    const req = http.request(
      url,
      {
        method,
        agent,
        headers: {
          ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}),
          ...(data !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const scores = (a: Answer): unknown =>
  (a.body.outputs as { name: string; data: unknown }[] | undefined)?.find((o) => o.name === 'score')?.data;
const expected = (rows: number[][]): number[] => rows.map((r) => r.reduce((s, v, i) => s + v * WEIGHTS[i]!, 0));
const infer = (rows: number[][]): { inputs: unknown[] } => ({
  inputs: [{ name: 'x', shape: [rows.length, 3], datatype: 'FP64', data: rows.flat() }],
});

describe('mlc serve (real engine, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  let name: string;
  const images: string[] = [];
  const containers = new Set<string>();

  const inProject = (args: string[], cwd = dir): ReturnType<typeof mlc> => mlc(args, { cwd, timeoutMs: 180_000 });
  const buildModel = async (tag: string, extra: { path: string; content: string }[], lines: string[]): Promise<void> => {
    const files = [
      { path: 'Dockerfile', content: [`FROM ${PYTHON}`, `COPY model/ ${MODEL_DIR}/`, ...lines, ''].join('\n') },
      { path: 'model/weights.json', content: JSON.stringify(WEIGHTS) },
      { path: 'model/card.json', content: JSON.stringify({ run: RUN, metrics: { val_acc: 0.5 } }) },
      ...extra,
    ];
    await engine.build(packFiles(files), {
      tags: [tag],
      labels: { [ROLE_LABEL]: MODEL_ROLE, [MODEL_LABELS.run]: RUN },
      dockerfile: 'Dockerfile',
      buildKit: (await engineKind(engine)) === 'docker',
    });
    images.push(tag);
  };
  const serveDetached = async (ref: string, cwd = dir): Promise<Served> => {
    const r = await inProject(['serve', ref, '--detach', '--json'], cwd);
    assert.equal(r.code, 0, r.stderr);
    const served = JSON.parse(r.stdout) as Served;
    containers.add(served.container);
    return served;
  };

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, PYTHON);
    assertBuiltCli();
    name = `mlc-serve-test-${randomUUID().slice(0, 8)}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-serve-'));
    fs.writeFileSync(path.join(dir, 'predict.py'), PREDICT);
    await buildModel(`${name}:${RUN}`, [], []);
  });

  after(async () => {
    for (const c of containers) await engine?.removeContainer(c, { force: true }).catch(() => undefined);
    for (const ref of images) await engine?.removeImage(ref, { force: true }).catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves a model image over V2: ready 200, metadata with the card, infer answers, no token 401, 127.0.0.1 only; --stop removes it', async () => {
    const s = await serveDetached(`${name}:${RUN}`);
    assert.equal(s.model, name);
    assert.equal(s.url, `http://127.0.0.1:${s.port}/v2/models/${name}`);
    assert.match(s.curl, new RegExp(`^curl -s -H 'Authorization: Bearer ${s.token}' .* ${s.url}/infer$`));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const base = `http://127.0.0.1:${s.port}`;
      assert.equal((await call(agent, 'GET', `${base}/v2/health/ready`)).status, 200);
      const meta = await call(agent, 'GET', s.url, { token: s.token });
      assert.equal(meta.status, 200);
      assert.deepEqual(meta.body.versions, [RUN]);
      assert.equal((meta.body.parameters as { card: { run: string } }).card.run, RUN);
      const rows = [
        [1, 2, 3],
        [4, 0.5, -1],
      ];
      const answer = await call(agent, 'POST', `${s.url}/infer`, { token: s.token, body: infer(rows) });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(scores(answer), expected(rows));

      for (const token of [undefined, 'not-the-token', s.token.slice(1)]) {
        assert.equal((await call(agent, 'POST', `${s.url}/infer`, { ...(token ? { token } : {}), body: infer(rows) })).status, 401);
        assert.equal((await call(agent, 'GET', s.url, token ? { token } : {})).status, 401);
      }

      // Published on the loopback only: inspect says so, and the host's other addresses refuse the port.
      const details = await engine.inspectContainer(s.container);
      const bindings = details?.ports['8080/tcp'] ?? [];
      assert.ok(bindings.length > 0);
      assert.deepEqual([...new Set(bindings.map((b) => b.hostIp))], ['127.0.0.1']);
      const external = Object.values(os.networkInterfaces())
        .flat()
        .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
      if (external) assert.equal(await connects(external, s.port), false, `port ${s.port} answers on ${external}`);

      // The token is in no label of the container, and in none of the image.
      assert.ok(!Object.values(details?.labels ?? {}).some((v) => v.includes(s.token)));
    } finally {
      agent.destroy();
    }

    const stopped = await inProject(['serve', '--stop', s.container]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(await engine.inspectContainer(s.container), undefined);
  });

  it('a malformed body is a 400 and the next request succeeds; a predict that raises is a 500 and the server goes on', async () => {
    const s = await serveDetached(`${name}:${RUN}`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const raw of [
        '{"inputs": [',
        JSON.stringify({ inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP64', data: [1, 2, 3] }] }),
        JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FLOAT', data: [1, 2, 3] }] }),
      ]) {
        const bad = await call(agent, 'POST', `${s.url}/infer`, { token: s.token, raw });
        assert.equal(bad.status, 400, raw);
        assert.equal(typeof bad.body.error, 'string');
        const next = await call(agent, 'POST', `${s.url}/infer`, { token: s.token, body: infer([[1, 1, 1]]) });
        assert.equal(next.status, 200);
        assert.deepEqual(scores(next), expected([[1, 1, 1]]));
      }
      const failed = await call(agent, 'POST', `${s.url}/infer`, { token: s.token, body: infer([[-1, 1, 1]]) });
      assert.equal(failed.status, 500);
      assert.equal(failed.body.error, 'ValueError: the first value must not be negative');
      assert.equal((await call(agent, 'POST', `${s.url}/infer`, { token: s.token, body: infer([[2, 1, 1]]) })).status, 200);
    } finally {
      agent.destroy();
    }
    assert.equal((await inProject(['serve', '--stop', `${name}:${RUN}`])).code, 0);
    assert.equal(await engine.inspectContainer(s.container), undefined);
  });

  it('answers 200 concurrent requests from 8 keep-alive clients, every one right', async () => {
    const s = await serveDetached(`${name}:${RUN}`);
    const clients = Array.from({ length: 8 }, (_, k) => k);
    const answers = await Promise.all(
      clients.map(async (k) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          const out: { status: number; got: unknown; want: number[] }[] = [];
          for (let i = 0; i < 25; i++) {
            const rows = [[k, i, 1]];
            const a = await call(agent, 'POST', `${s.url}/infer`, { token: s.token, body: infer(rows) });
            out.push({ status: a.status, got: scores(a), want: expected(rows) });
          }
          return out;
        } finally {
          agent.destroy();
        }
      }),
    );
    const all = answers.flat();
    assert.equal(all.length, 200);
    assert.deepEqual(
      all.filter((a) => a.status !== 200),
      [],
    );
    for (const a of all) assert.deepEqual(a.got, a.want);
    assert.equal((await inProject(['serve', '--stop', s.container])).code, 0);
  });

  it('an image saved with the server and predict.py serves by itself: through mlc serve from a folder without predict.py, and with its own CMD', async () => {
    const tag = `${name}-carried:${RUN}`;
    const server = fs.readFileSync(path.resolve(__dirname, '../../templates/model/serve.py'), 'utf8');
    await buildModel(
      tag,
      [
        { path: 'serve.py', content: server },
        { path: 'predict.py', content: PREDICT },
      ],
      serveDockerfileLines(),
    );
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-serve-empty-'));
    try {
      const s = await serveDetached(tag, elsewhere);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const a = await call(agent, 'POST', `${s.url}/infer`, { token: s.token, body: infer([[3, 2, 1]]) });
        assert.equal(a.status, 200);
        assert.deepEqual(scores(a), expected([[3, 2, 1]]));
      } finally {
        agent.destroy();
      }
      assert.equal((await inProject(['serve', '--stop', s.container])).code, 0);
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }

    // Its own CMD, as KServe would run it: only the token comes from outside.
    const token = randomUUID();
    const id = await engine.createContainer({
      Image: tag,
      Env: [`MLC_SERVE_TOKEN=${token}`],
      Labels: {},
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
    });
    containers.add(id);
    await engine.startContainer(id);
    const port = (await engine.inspectContainer(id))?.ports['8080/tcp']?.[0]?.hostPort;
    assert.ok(port);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const base = `http://127.0.0.1:${port}`;
      for (
        const deadline = Date.now() + 60_000;
        (await call(agent, 'GET', `${base}/v2/health/ready`).catch(() => ({ status: 0 }))).status !== 200;
        await new Promise((r) => setTimeout(r, 200))
      ) {
        assert.ok(Date.now() < deadline, await engine.containerLogs(id, 20));
      }
      const a = await call(agent, 'POST', `${base}/v2/models/model/infer`, { token, body: infer([[1, 0, 0]]) });
      assert.equal(a.status, 200);
      assert.deepEqual(scores(a), expected([[1, 0, 0]]));
    } finally {
      agent.destroy();
      await engine.removeContainer(id, { force: true });
    }
  });

  it('in the foreground: prints the URL and token, and Ctrl-C stops and removes the container (exit 130)', async () => {
    const child = mlcProcess(['serve', `${name}:${RUN}`], { cwd: dir });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    for (const deadline = Date.now() + 120_000; !/until Ctrl-C/.test(err); await new Promise((r) => setTimeout(r, 200))) {
      assert.ok(Date.now() < deadline, `no ready line in 120 s:\n${err}`);
    }
    const container = /in container (\S+) until Ctrl-C/.exec(err)![1]!;
    containers.add(container);
    assert.match(out, /^URL {4}http:\/\/127\.0\.0\.1:\d+\/v2\/models\//m);
    const token = /^token {2}([0-9a-f]{48})$/m.exec(out)?.[1];
    assert.ok(token, out);
    assert.ok(!err.includes(token), 'the token reached stderr');
    child.kill('SIGINT');
    assert.equal(await exit, 130, err);
    assert.equal(await engine.inspectContainer(container), undefined);
  });

  it('refuses an image that is not a model, in one sentence (exit 1)', async () => {
    const r = await inProject(['serve', PYTHON]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /is not a model image \(it has no org\.mlcontainers\.role=model label\): save a run as a model with `mlc model save RUN`/,
    );
  });
});

describe("mlc serve of the quickstart's model (real engine, the PyTorch stand-in, dist/cli.js)", function () {
  let engine: Engine;
  let parent: string;
  let name: string;

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, PYTORCH_STANDIN);
    assertBuiltCli();
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-serve-qs-'));
    name = `mlc-serve-qs-${randomUUID().slice(0, 6)}`;
  });

  after(async () => {
    for (const image of (await engine?.listImages({}).catch(() => [])) ?? []) {
      for (const tag of image.repoTags.filter((t) => t.startsWith(name)))
        await engine.removeImage(tag, { force: true }).catch(() => undefined);
    }
    if (parent) fs.rmSync(parent, { recursive: true, force: true });
  });

  it('the saved model, served, gives 20 held-out digits the classes the same weights give inside a run', async () => {
    const dir = path.join(parent, name);
    // No registry answers on 127.0.0.1:1: the quickstart takes the stand-in base, as in quickstart.test.ts.
    const qs = await mlc(['quickstart', dir], { env: { MLC_REGISTRY_MIRROR: '127.0.0.1:1' }, timeoutMs: 300_000 });
    assert.equal(qs.code, 0, qs.stderr);
    const run = (await readRuns(dir)).runs.find((r) => r.status === 'succeeded');
    assert.ok(run, 'the quickstart recorded no run that succeeded');
    const saved = await mlc(['model', 'save', run.id, '--dir', dir, '--json'], { timeoutMs: 180_000 });
    assert.equal(saved.code, 0, saved.stderr);
    const { tag, imageId } = JSON.parse(saved.stdout) as { tag: string; imageId: string };
    // With predict.py and the server in it, the same run saved again is still the same image.
    const again = await mlc(['model', 'save', run.id, '--dir', dir, '--json'], { timeoutMs: 180_000 });
    assert.equal((JSON.parse(again.stdout) as { imageId: string }).imageId, imageId, again.stderr);

    // Inside a run: 20 of the digits train.py held out (its split, from the same seed), their labels, and the classes
    // of the run's weights, rebuilt as train.py builds the net — not through predict.py.
    const evaluate = [
      'import json, torch, yaml',
      'from torch import nn',
      'from sklearn.datasets import load_digits',
      'cfg = yaml.safe_load(open("configs/experiment.yaml"))',
      `state = torch.load(".mlcontainers/runs/${run.id}/model.pt", map_location="cpu")`,
      'net = nn.Sequential(nn.Linear(64, state["0.weight"].shape[0]), nn.ReLU(), nn.Linear(state["0.weight"].shape[0], 10))',
      'net.load_state_dict(state)',
      'd = load_digits()',
      'order = torch.randperm(len(d.data), generator=torch.Generator().manual_seed(cfg["seed"]))',
      'held_out = order[: int(len(d.data) * cfg["data"]["val_fraction"])][:20]',
      'x = d.data[held_out.numpy()]',
      'classes = net(torch.tensor(x, dtype=torch.float32) / 16.0).argmax(1).tolist()',
      'print("EVAL " + json.dumps({"pixels": x.tolist(), "labels": d.target[held_out.numpy()].tolist(), "classes": classes}))',
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'configs', 'eval.yaml'), 'seed: 0\n');
    const ran = await mlc(['run', '--config', 'configs/eval.yaml', '--gpu', 'none', '--', 'python3', '-c', evaluate], {
      cwd: dir,
      timeoutMs: 180_000,
    });
    assert.equal(ran.code, 0, ran.stderr);
    const line = ran.stdout.split('\n').find((l) => l.startsWith('EVAL '));
    assert.ok(line, ran.stdout);
    const inRun = JSON.parse(line.slice(5)) as { pixels: number[][]; labels: number[]; classes: number[] };

    // The save ships predict.py and the server (the example has one): it serves from a folder without predict.py.
    assert.ok((await engine.inspectImage(tag))?.cmd?.includes(SERVER_PATH), 'the saved image does not run the server');
    const elsewhere = path.join(parent, 'elsewhere');
    fs.mkdirSync(elsewhere);
    const r = await mlc(['serve', tag, '--detach', '--json'], { cwd: elsewhere, timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Served;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const body = { inputs: [{ name: 'pixels', shape: [20, 64], datatype: 'FP32', data: inRun.pixels.flat() }] };
      const a = await call(agent, 'POST', `${s.url}/infer`, { token: s.token, body });
      assert.equal(a.status, 200, JSON.stringify(a.body));
      const outputs = a.body.outputs as { name: string; shape: number[]; datatype: string; data: number[] }[];
      const digit = outputs.find((o) => o.name === 'digit');
      assert.deepEqual([digit?.shape, digit?.datatype], [[20], 'INT64']);
      assert.deepEqual(digit?.data, inRun.classes);
      // A trained model gets most of them right (the classes are compared above; this says it learned at all).
      assert.ok(
        inRun.classes.filter((c, i) => c === inRun.labels[i]).length >= 15,
        `classes ${JSON.stringify(inRun.classes)} vs labels ${JSON.stringify(inRun.labels)}`,
      );
      const meta = await call(agent, 'GET', s.url, { token: s.token });
      assert.equal((meta.body.parameters as { card: { run: string } }).card.run, run.id);
    } finally {
      agent.destroy();
      await mlc(['serve', '--stop', s.container]);
    }
  });
});

/** Does a TCP connection to host:port open? */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    socket.on('connect', () => (socket.destroy(), resolve(true)));
    socket.on('timeout', () => (socket.destroy(), resolve(false)));
    socket.on('error', () => resolve(false));
  });
}
