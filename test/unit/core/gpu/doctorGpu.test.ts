import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { mlcInProcess as run } from '../../../helpers/cli';

// `mlc doctor --gpu` in this process against a fake Engine API on loopback, with a fake nvidia-smi first on PATH.
describe('mlc doctor --gpu', () => {
  let server: http.Server;
  let bin: string;
  let savedPath: string | undefined;
  const engine = { runtimes: { nvidia: {}, runc: {} } as Record<string, object>, imageEnv: ['CUDA_VERSION=12.4.1'] };

  const listen = async (host: string): Promise<string> => {
    server = http.createServer((req, res) => {
      const url = (req.url ?? '').replace(/^\/v[\d.]+/, '').split('?')[0] ?? '';
      res.setHeader('Content-Type', 'application/json');
      if (url === '/_ping') {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Api-Version': '1.47', Ostype: 'linux', Server: 'Docker/27.3.1 (linux)' });
        res.end('OK');
      } else if (url === '/version') {
        res.end(JSON.stringify({ Version: '27.3.1', ApiVersion: '1.47', Os: 'linux', Arch: 'amd64', Components: [{ Name: 'Engine' }] }));
      } else if (url === '/info') {
        res.end(
          JSON.stringify({
            Name: 'gpu-box',
            ServerVersion: '27.3.1',
            OperatingSystem: 'Ubuntu 24.04',
            OSType: 'linux',
            Runtimes: engine.runtimes,
          }),
        );
      } else if (url === '/images/dimuon:3f2a1bc/json') {
        res.end(JSON.stringify({ Id: 'sha256:1', RepoTags: ['dimuon:3f2a1bc'], Config: { Env: engine.imageEnv, Labels: {} } }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ message: `no such thing: ${url}` }));
      }
    });
    await new Promise<void>((r) => server.listen(0, host, r));
    return `tcp://${host}:${(server.address() as AddressInfo).port}`;
  };

  /** An nvidia-smi from before driver 510, which refuses the compute_cap field (the probe then asks without it). */
  const fakeSmi = (csv: string): void => {
    const old = `case "$1" in *compute_cap*) echo 'Field "compute_cap" is not a valid field to query.'; exit 2;; esac\n`;
    fs.writeFileSync(path.join(bin, 'nvidia-smi'), `#!/bin/sh\n${old}printf '%s\\n' '${csv}'\n`, { mode: 0o755 });
  };

  beforeEach(() => {
    bin = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-smi-'));
    savedPath = process.env.PATH;
    process.env.PATH = `${bin}${path.delimiter}${savedPath ?? ''}`;
    engine.runtimes = { nvidia: {}, runc: {} };
  });

  afterEach(async () => {
    process.env.PATH = savedPath;
    fs.rmSync(bin, { recursive: true, force: true });
    await new Promise((r) => server.close(r));
  });

  it("will work: exit 0, the GPU, the driver against the image's CUDA, and the verdict last", async () => {
    fakeSmi('0, NVIDIA H100 80GB HBM3, GPU-5b9c, 550.90.07, 81559 MiB');
    const r = await run(['doctor', '--gpu', '--image', 'dimuon:3f2a1bc', '--host', await listen('127.0.0.1')]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.out.split('\n'), [
      'Engine GPU access: nvidia runtime (DeviceRequests)',
      'Driver: 550.90.07',
      'GPU 0: NVIDIA H100 80GB HBM3, 80 GiB, GPU-5b9c',
      'Image needs CUDA 12.4 (CUDA_VERSION): driver ok (≥ 550.54.14)',
      'Verdict: GPU containers will work: the nvidia runtime hands out 1 GPU, driver 550.90.07, which meets CUDA 12.4 of dimuon:3f2a1bc.',
    ]);
  });

  it('will not work: exit 1, with what is missing and the fix as the verdict', async () => {
    fakeSmi('0, Tesla T4, GPU-1, 470.82.01, 15360 MiB');
    const r = await run(['doctor', '--gpu', '--image', 'dimuon:3f2a1bc', '--host', await listen('127.0.0.1')]);
    assert.equal(r.code, 1);
    assert.equal(
      r.out.split('\n').at(-1),
      'Verdict: GPU containers will not work: driver 470.82.01 is too old for CUDA 12.4 in dimuon:3f2a1bc (needs ≥ 525.60.13): update the driver.',
    );
    assert.match(r.out, /^Problem: Driver 470\.82\.01 is too old/m);
  });

  it("can't tell (a remote engine): exit 0, the verdict names what could not be checked; --json warns on stderr", async () => {
    const host = await listen('127.0.0.2');
    const r = await run(['doctor', '--gpu', '--host', host]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out.split('\n').at(-1) ?? '',
      /^Verdict: Can't tell whether GPU containers will work: the engine runs on tcp:\/\/127\.0\.0\.2:\d+: its GPUs and driver cannot be checked from here/,
    );
    const json = await run(['doctor', '--gpu', '--json', '--host', host]);
    assert.equal(json.code, 0);
    assert.equal((JSON.parse(json.out) as { verdict: { kind: string } }).verdict.kind, 'unknown');
    assert.match(json.err, /^warning: Can't tell whether GPU containers will work/);
  });

  it('documents the three verdicts and their exit codes in the help', async () => {
    const r = await run(['doctor', '--help']);
    assert.match(`${r.out}${r.err}`, /Exits 0 when they will work, 1 when they will not, and 0 when it\s+can't tell/);
  });
});
