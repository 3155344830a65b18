import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineError } from '../../../../src/core/docker/errors';
import { localImageCuda } from '../../../../src/core/gpu/imageCuda';
import type { PreparedScaffold } from '../../../../src/core/scaffold/prepare';
import { prepareScaffold } from '../../../../src/core/scaffold/prepare';
import type { ScaffoldOptions } from '../../../../src/core/scaffold/render';
import { describeBase } from '../../../../src/core/scaffold/render';
import { imageDetails } from '../../../helpers/images';
import { FakeEngine } from '../../fakes/engine';

const TEMPLATES = path.resolve(__dirname, '../../../../templates');
const MIRROR = 'registry.example.org/ml/pytorch:2.5.1';
const CATALOG_GPU = 'pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime';
const UNKNOWN = 'CUDA: unknown — checked at first GPU run';

describe('the base a scaffold describes (mlc init --base-image, New ML Environment)', () => {
  let root: string;
  let engine: FakeEngine;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-basedesc-'));
    engine = new FakeEngine();
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const prepare = (options: Partial<ScaffoldOptions> = {}, inspect = engine.inspectImage.bind(engine)): Promise<PreparedScaffold> =>
    prepareScaffold(root, TEMPLATES, { preset: 'pytorch', variant: 'gpu', baseImage: MIRROR, ...options }, false, localImageCuda(inspect));
  const devcontainer = (p: PreparedScaffold): string => p.plan.find((w) => w.path.endsWith('devcontainer.json'))?.content ?? '';
  const baseComment = (p: PreparedScaffold): string => /\/\/ (.*)\n\s*"BASE_IMAGE"/.exec(devcontainer(p))?.[1] ?? '';

  it('keeps the catalog base described by the catalog, without asking the engine', async () => {
    const p = await prepare({ baseImage: undefined });
    assert.equal(describeBase(p.options), `PyTorch 2.14.1 (gpu) on ${CATALOG_GPU}, CUDA 13.0`);
    assert.equal(baseComment(p), 'Override to try another base; the catalog pins the tag (needs CUDA 13.0 on the host driver).');
    assert.deepEqual(engine.calls, []);
  });

  it("reads a local base's CUDA_VERSION, and drops the catalog's framework version and CUDA", async () => {
    engine.images.set(MIRROR, imageDetails({ env: ['PATH=/usr/bin', 'CUDA_VERSION=12.1.1'] }));
    const p = await prepare();
    assert.equal(
      describeBase(p.options),
      `PyTorch (gpu) on ${MIRROR} instead of the catalog's ${CATALOG_GPU}; framework: the image's own; needs CUDA 12.1 on the host driver (the image's CUDA_VERSION)`,
    );
    assert.equal(
      baseComment(p),
      `Chosen instead of the catalog's ${CATALOG_GPU}; needs CUDA 12.1 on the host driver (the image's CUDA_VERSION).`,
    );
    assert.doesNotMatch(devcontainer(p), /CUDA 12\.4/);
    assert.deepEqual(engine.calls, [`inspectImage ${MIRROR}`]);
  });

  it('reads NVIDIA_REQUIRE_CUDA when the image sets only that', async () => {
    engine.images.set(MIRROR, imageDetails({ env: ['NVIDIA_REQUIRE_CUDA=cuda>=11.8 brand=tesla,driver>=470,driver<471'] }));
    const p = await prepare();
    assert.match(describeBase(p.options), /; needs CUDA 11\.8 on the host driver \(the image's NVIDIA_REQUIRE_CUDA\)$/);
    assert.match(baseComment(p), /needs CUDA 11\.8 on the host driver \(the image's NVIDIA_REQUIRE_CUDA\)\.$/);
  });

  it('says CUDA is unknown for a local image that names no CUDA, not the catalog guess', async () => {
    engine.images.set(MIRROR, imageDetails({ env: ['PATH=/usr/bin'] }));
    const p = await prepare();
    assert.ok(describeBase(p.options).endsWith(`; ${UNKNOWN}`), describeBase(p.options));
    assert.equal(baseComment(p), `Chosen instead of the catalog's ${CATALOG_GPU}; ${UNKNOWN}.`);
  });

  it('says CUDA is unknown for an image the engine does not have', async () => {
    const p = await prepare();
    assert.ok(describeBase(p.options).endsWith(`; ${UNKNOWN}`));
    assert.equal(p.options.cuda, undefined);
    assert.deepEqual(engine.calls, [`inspectImage ${MIRROR}`]);
  });

  it('says CUDA is unknown, and still scaffolds, when the engine cannot be reached', async () => {
    const p = await prepare({}, () => Promise.reject(new EngineError('Cannot connect to the Docker engine.', 'unreachable')));
    assert.ok(describeBase(p.options).endsWith(`; ${UNKNOWN}`));
    assert.equal(baseComment(p), `Chosen instead of the catalog's ${CATALOG_GPU}; ${UNKNOWN}.`);
    assert.ok(p.plan.some((w) => w.path.endsWith('Dockerfile')));
  });

  it('names no CUDA for a CPU base it cannot read, and the pip fallback for the framework', async () => {
    const p = await prepare({ variant: 'cpu', baseImage: 'registry.example.org/python:3.11-slim' });
    assert.equal(
      describeBase(p.options),
      "PyTorch (cpu) on registry.example.org/python:3.11-slim instead of the catalog's python:3.11-slim; framework: the image's own, else pip install torch==2.14.1",
    );
    assert.equal(baseComment(p), "Chosen instead of the catalog's python:3.11-slim.");
  });

  it('stops when cancelled rather than calling CUDA unknown', async () => {
    const controller = new AbortController();
    controller.abort();
    const lookup = localImageCuda(() => Promise.reject(new EngineError('cancelled', 'cancelled')), controller.signal);
    await assert.rejects(lookup(MIRROR), (e: unknown) => e instanceof EngineError && e.reason === 'cancelled');
  });
});
