import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as StatusBar from '../../../src/vscode/statusBar';
import type { EngineProvider } from '../../../src/vscode/engineProvider';
import type { FakeVscodeRecord } from '../../helpers/fakeVscode';
import { installFakeVscode, loadFresh } from '../../helpers/fakeVscode';
import { imageDetails } from '../../helpers/images';
import { silentLogger } from '../../helpers/logger';
import { FakeEngine } from '../fakes/engine';

describe('"ML Container" status bar item', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let dir: string;
  let engine: FakeEngine;
  let bar: StatusBar.MlStatusBar;

  beforeEach(() => {
    ({ record, uninstall } = installFakeVscode());
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-status-'));
    engine = new FakeEngine();
    const { MlStatusBar } = loadFresh<typeof StatusBar>('src/vscode/statusBar');
    bar = new MlStatusBar({ get: () => engine } as unknown as EngineProvider, () => dir, silentLogger('test'));
  });

  afterEach(() => {
    bar.dispose();
    uninstall();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const item = () => record.statusBarItems[0];
  const scaffold = (): void => {
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      '{\n  // PyTorch (gpu)\n  "name": "dimuon",\n  "containerEnv": { "MLC_PRESET": "pytorch", "MLC_VARIANT": "gpu" }\n}\n',
    );
  };

  it('invites scaffolding in a folder without devcontainer.json, and asks the engine nothing', async () => {
    await bar.update();
    assert.equal(item()?.text, '$(vm) ML Container');
    assert.equal(item()?.command, 'mlContainers.statusBar.actions');
    assert.match(String(item()?.tooltip), /click to scaffold one/);
    assert.deepEqual(engine.calls, []);
  });

  it("shows the preset and the latest image's id, with its commit in the tooltip", async () => {
    scaffold();
    engine.images.set(
      'dimuon:latest',
      imageDetails({
        created: '',
        labels: { 'org.opencontainers.image.revision': '3f2a1bc9d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4', 'org.mlcontainers.dirty': 'true' },
      }),
    );
    await bar.update();
    assert.equal(item()?.text, '$(vm) pytorch · gpu · 27f51f9ea9f7');
    const tooltip = (item()?.tooltip as { value: string }).value;
    assert.match(tooltip, /`dimuon:latest`/);
    assert.match(tooltip, /Commit: `3f2a1bc9d0e8` \(with uncommitted changes\)/);
  });

  it('before the first build: the preset, and "No image built yet"', async () => {
    scaffold();
    await bar.update();
    assert.equal(item()?.text, '$(vm) pytorch · gpu');
    assert.match((item()?.tooltip as { value: string }).value, /No image built yet/);
  });

  it('in Restricted Mode shows the preset without asking the engine', async () => {
    scaffold();
    record.trusted = false;
    await bar.update();
    assert.equal(item()?.text, '$(vm) pytorch · gpu');
    assert.match((item()?.tooltip as { value: string }).value, /Restricted Mode/);
    assert.deepEqual(engine.calls, []);
  });

  it('inside a dev container says so', async () => {
    record.remoteName = 'dev-container';
    await bar.update();
    assert.equal(item()?.text, '$(vm-active) In ML Container');
    assert.deepEqual(engine.calls, []);
  });
});
