import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fakeMemento, installFakeVscode, loadExtension } from '../../helpers/fakeVscode';

// The CommonJS module object itself (not an import namespace), so replacing its functions is seen by every caller.
const childProcess = createRequire(__filename)('node:child_process') as Record<string, unknown>;
const SPAWNERS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const;

describe('activate()', () => {
  let dir: string;
  let server: net.Server;
  let connections = 0;
  const spawned: string[] = [];
  const originals = new Map<string, unknown>();
  let uninstall: () => void;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-activate-'));
    const socket = path.join(dir, 'engine.sock');
    // A socket standing where the engine would be: any Docker call during activation would connect here.
    server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    process.env.DOCKER_HOST = `unix://${socket}`;
    for (const name of SPAWNERS) {
      const original = childProcess[name];
      originals.set(name, original);
      childProcess[name] = (...args: unknown[]) => {
        spawned.push(`${name} ${String(args[0])}`);
        return (original as (...a: unknown[]) => unknown)(...args);
      };
    }
  });

  after(async () => {
    uninstall?.();
    for (const [name, original] of originals) {
      childProcess[name] = original;
    }
    delete process.env.DOCKER_HOST;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('registers its commands and view but makes no Docker or git call', async () => {
    const fake = installFakeVscode();
    const { module, record } = fake;
    uninstall = fake.uninstall;
    (module.workspace as Record<string, unknown>).workspaceFolders = [{ uri: { fsPath: dir }, name: 'project', index: 0 }];
    const extension = loadExtension();
    const context = {
      subscriptions: [] as { dispose(): void }[],
      extensionPath: path.resolve(__dirname, '../../..'),
      workspaceState: fakeMemento(),
    };
    extension.activate(context as never);
    await new Promise((resolve) => setTimeout(resolve, 200));

    assert.ok(record.commands.has('mlContainers.engine.doctor'));
    assert.ok(record.commands.has('mlContainers.scaffold.new'));
    assert.ok(record.treeViews.has('mlContainers.images'));
    assert.equal(connections, 0, 'activate() connected to the Docker engine');
    assert.deepEqual(spawned, [], 'activate() started a process (git?)');
    assert.equal(record.gitApiRequests, 0, 'activate() asked for the git extension');
    assert.deepEqual(record.extensionLookups, [], 'activate() looked up another extension (Jupyter?)');

    // The same observation does see Docker traffic once a view asks for images: the probe is live.
    const provider = record.treeViews.get('mlContainers.images')?.treeDataProvider as { getChildren(): Promise<unknown[]> };
    assert.deepEqual(await provider.getChildren(), []);
    assert.ok(connections > 0, 'the view did not reach the engine socket');
    assert.ok(record.executed.includes('setContext'));

    for (const d of context.subscriptions) d.dispose();
  });
});
