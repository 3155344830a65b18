import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REGISTRY_MIRROR_ENV } from '../../../src/core/scaffold/latestTags';
import { parseJsonc } from '../../../src/core/scaffold/mergeDevcontainer';
import type { FakeRegistry } from '../../helpers/fakeRegistry';
import { fakeRegistry } from '../../helpers/fakeRegistry';
import type { FakeVscodeRecord } from '../../helpers/fakeVscode';
import { fakeMemento, installFakeVscode, loadExtension } from '../../helpers/fakeVscode';

describe('New ML Environment command (QuickPick steps)', () => {
  let record: FakeVscodeRecord;
  let workspace: Record<string, unknown>;
  let uninstall: () => void;
  let dir: string;
  let registry: FakeRegistry;
  const mirrorBefore = process.env[REGISTRY_MIRROR_ENV];
  const subscriptions: { dispose(): void }[] = [];

  before(async () => {
    // The base step looks for newer tags online: here on a registry on 127.0.0.1 standing in for Docker Hub.
    registry = await fakeRegistry(['2.14.1-cuda13.0-cudnn9-runtime', '2.15.0-cuda13.0-cudnn9-runtime', '2.16.0-cuda13.2-cudnn9-runtime']);
    process.env[REGISTRY_MIRROR_ENV] = registry.host;
    const fake = installFakeVscode();
    record = fake.record;
    workspace = fake.module.workspace as Record<string, unknown>;
    uninstall = fake.uninstall;
    const extension = loadExtension();
    extension.activate({ subscriptions, extensionPath: path.resolve(__dirname, '../../..'), workspaceState: fakeMemento() } as never);
  });

  after(async () => {
    subscriptions.forEach((d) => d.dispose());
    uninstall();
    if (mirrorBefore === undefined) delete process.env[REGISTRY_MIRROR_ENV];
    else process.env[REGISTRY_MIRROR_ENV] = mirrorBefore;
    await registry.close();
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-newenv-'));
    workspace.workspaceFolders = [{ uri: { fsPath: dir }, name: 'dimuon', index: 0 }];
    record.quickInputsShown.length = 0;
    record.messages.length = 0;
  });

  const run = (): Promise<unknown> => (record.commands.get('mlContainers.scaffold.new') as () => Promise<unknown>)();

  it('goes back through the steps, then writes the preset the user finally chose', async () => {
    record.quickInputScript.push(
      { pick: 'PyTorch' },
      { pick: 'GPU' },
      { back: true },
      { back: true },
      { pick: 'scikit-hep' },
      { pick: 'Python 3.12' },
      { type: '9999' },
      { type: 'einops' },
      { pick: 'python:3.12-slim' },
    );
    await run();
    assert.equal(record.quickInputScript.length, 0, 'not every scripted step was shown');
    const shown = record.quickInputsShown.map((q) => `${q.step}/${q.totalSteps} ${q.placeholder ?? q.prompt}`);
    assert.match(shown[0] ?? '', /^1\/\d+ Preset$/);
    assert.match(shown[1] ?? '', /^2\/\d+ GPU or CPU$/);
    assert.equal(shown[4], shown[0], 'Back from the second step did not return to the first');
    const config = parseJsonc(fs.readFileSync(path.join(dir, '.devcontainer/devcontainer.json'), 'utf8'), 'devcontainer.json');
    const args = (config.build as { args: Record<string, string> }).args;
    assert.equal((config.containerEnv as Record<string, string>).MLC_PRESET, 'scikit-hep');
    assert.equal(args.BASE_IMAGE, 'python:3.12-slim');
    assert.equal(args.EXTRA_PIP_PACKAGES, 'einops');
    assert.deepEqual(config.forwardPorts, [9999]);
    assert.ok(record.messages.some((m) => m.level === 'info' && /scikit-hep .* file\(s\) written/.test(m.text)));
  });

  it("describes another base by the image, not the catalog's CUDA, when the engine cannot tell", async () => {
    const mirror = 'registry.example.org/ml/pytorch:2.5.1';
    record.config['mlContainers.dockerHost'] = `unix://${path.join(dir, 'no-docker.sock')}`;
    try {
      record.quickInputScript.push(
        { pick: 'PyTorch' },
        { pick: 'GPU' },
        { pick: '2.5.1' },
        { type: '8888' },
        { type: '' },
        { pick: 'Other image' },
        { type: mirror },
      );
      await run();
      const info = record.messages.find((m) => m.level === 'info')?.text ?? '';
      assert.match(
        info,
        /^PyTorch \(gpu\) on registry\.example\.org\/ml\/pytorch:2\.5\.1 instead of the catalog's .*; CUDA: unknown — checked at first GPU run\. \d+ file\(s\) written\.$/,
      );
      const config = fs.readFileSync(path.join(dir, '.devcontainer/devcontainer.json'), 'utf8');
      assert.match(config, /\/\/ Chosen instead of the catalog's \S+; CUDA: unknown — checked at first GPU run\./);
      assert.doesNotMatch(`${info}\n${config}`, /CUDA 12\.4/);
    } finally {
      delete record.config['mlContainers.dockerHost'];
    }
  });

  it('offers the newest tag of the catalog base found online beside the pinned one, and writes it with the catalog CUDA', async () => {
    record.quickInputScript.push(
      { pick: 'PyTorch' },
      { pick: 'GPU' },
      { pick: '2.14.1' },
      { type: '8888' },
      { type: '' },
      { pick: '2.15.0' },
    );
    await run();
    const base = record.quickInputsShown.find((q) => q.placeholder === 'Base image');
    const items = (base?.items ?? []) as { label: string; description?: string }[];
    assert.deepEqual(
      items.slice(0, 2).map((i) => `${i.label} | ${i.description ?? ''}`),
      [
        'pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime | catalog default (pinned)',
        `pytorch/pytorch:2.15.0-cuda13.0-cudnn9-runtime | newest on ${registry.host}`,
      ],
    );
    const config = parseJsonc(fs.readFileSync(path.join(dir, '.devcontainer/devcontainer.json'), 'utf8'), 'devcontainer.json');
    assert.equal((config.build as { args: Record<string, string> }).args.BASE_IMAGE, 'pytorch/pytorch:2.15.0-cuda13.0-cudnn9-runtime');
    const info = record.messages.find((m) => m.level === 'info')?.text ?? '';
    assert.match(
      info,
      /^PyTorch 2\.15\.0 \(gpu\) on pytorch\/pytorch:2\.15\.0-cuda13\.0-cudnn9-runtime, CUDA 13\.0\. \d+ file\(s\) written\.$/,
    );
  });

  it('writes nothing when the user dismisses a step', async () => {
    record.quickInputScript.push({ pick: 'TensorFlow' }, { pick: 'CPU' });
    await run();
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('asks before merging into an existing devcontainer.json and writes nothing when declined', async () => {
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    const mine = '// mine\n{ "image": "python:3.11" }\n';
    fs.writeFileSync(path.join(dir, '.devcontainer/devcontainer.json'), mine);
    record.quickInputScript.push(
      { pick: 'ATLAS' },
      { pick: '25.2.30' },
      { type: '8888' },
      { type: '' },
      { pick: 'atlas/analysisbase:25.2.30' },
    );
    await run();
    assert.ok(record.messages.some((m) => m.level === 'warn' && /already exists\. Merge/.test(m.text)));
    assert.equal(fs.readFileSync(path.join(dir, '.devcontainer/devcontainer.json'), 'utf8'), mine);
    assert.deepEqual(fs.readdirSync(dir), ['.devcontainer']);
  });
});
