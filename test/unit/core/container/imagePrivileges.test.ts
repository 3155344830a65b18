import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { toDockerRunArgs } from '../../../../src/core/container/dockerRun';
import { allowedImages, imagePrivilegesFile, rememberImagePrivileges } from '../../../../src/core/container/imageConsent';
import {
  ImagePrivilegesError,
  checkImagePrivileges,
  describeAsked,
  featureKey,
  imagePrivileges,
} from '../../../../src/core/container/imagePrivileges';
import type { ContainerSpec } from '../../../../src/core/container/request';
import { containerRequest } from '../../../../src/core/container/request';
import type { RuntimeSettings } from '../../../../src/core/container/runtime';
import { runtimeSettings } from '../../../../src/core/container/runtime';
import type { ImageDetails } from '../../../../src/core/docker/engine';
import { jupyterContainerRequest } from '../../../../src/core/jupyter/server';
import type { GitProvider } from '../../../../src/core/provenance/git';
import { runExperiment } from '../../../../src/core/run/experiment';
import type { ExperimentPlan } from '../../../../src/core/run/plan';
import { PLANS_DIR } from '../../../../src/core/run/plan';
import { submitToSlurm } from '../../../../src/core/backends/slurm/submit';
import type * as Consent from '../../../../src/vscode/imagePrivileges';
import type * as Core from '../../../../src/core/container/imagePrivileges';
import type { FakeVscodeRecord } from '../../../helpers/fakeVscode';
import { installFakeVscode, loadFresh } from '../../../helpers/fakeVscode';
import { imageDetails } from '../../../helpers/images';
import { silentLogger } from '../../../helpers/logger';
import { FakeEngine } from '../../fakes/engine';
import { FakeSlurm } from '../../fakes/slurm';

const metadata = (entries: unknown[]): Record<string, string> => ({ 'devcontainer.metadata': JSON.stringify(entries) });

/** A base image whose label asks, through a Feature the project never listed, for the host. */
const ASKING = imageDetails({
  repoTags: ['python-ml:abc123'],
  labels: metadata([
    {
      id: 'ghcr.io/someone/features/helper:1',
      privileged: true,
      capAdd: ['SYS_ADMIN'],
      mounts: [{ type: 'bind', source: '/', target: '/host' }],
    },
    { remoteUser: 'root' },
  ]),
});
const REFUSAL =
  'The image python-ml:abc123 asks for privileged mode, capability SYS_ADMIN and a bind mount of / at /host through its devcontainer.metadata label: run again with --allow-image-privileges to grant them for this image, or rebuild from a base you trust.';

const tmp = (prefix: string): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

function project(devcontainer: Record<string, unknown> = {}): string {
  const dir = tmp('mlc-imgpriv-');
  fs.mkdirSync(path.join(dir, '.devcontainer'));
  fs.writeFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), JSON.stringify({ image: 'python:3.11-slim', ...devcontainer }));
  fs.writeFileSync(path.join(dir, 'exp.yaml'), 'lr: 0.1\n');
  return dir;
}

const shell = (details: ImageDetails, runtime: RuntimeSettings | undefined, ref = 'python-ml:abc123'): ContainerSpec => ({
  role: 'shell',
  image: { ref, details },
  workspace: '/w',
  decision: { mode: 'cpu' },
  shmSizeBytes: 1,
  args: [],
  ...(runtime ? { runtime } : {}),
});

const refused = (e: unknown): boolean => e instanceof ImagePrivilegesError && e.message === REFUSAL;

describe('privileges an image asks for through its devcontainer.metadata label', () => {
  let config: string;
  beforeEach(() => {
    config = tmp('mlc-imgpriv-config-');
  });
  afterEach(() => fs.rmSync(config, { recursive: true, force: true }));

  it('are refused in one sentence naming each, for every container made of the image, when the project asks for no Feature', async () => {
    const runtime = await runtimeSettings({}, { workspace: '/w', hostEnv: { XDG_CONFIG_HOME: config } });
    assert.throws(() => containerRequest(shell(ASKING, runtime)), refused);
    assert.throws(() => containerRequest(shell(ASKING, undefined)), refused, 'no runtime settings: nothing agreed to either');
    assert.throws(
      () =>
        jupyterContainerRequest({
          image: { ref: 'python-ml:abc123', details: ASKING },
          workspace: '/w',
          token: 't',
          name: 'j',
          decision: { mode: 'cpu' },
          shmSizeBytes: 1,
          runtime,
        }),
      refused,
    );
    await assert.rejects(checkImagePrivileges({ ref: 'python-ml:abc123', details: ASKING }, '/w', runtime), refused);
    assert.deepEqual(fs.readdirSync(config), [], 'a refusal remembers nothing');
  });

  it('apply with --allow-image-privileges, which is remembered for that image id on the host', async () => {
    const runtime = await runtimeSettings(
      {},
      { workspace: '/w', hostEnv: { XDG_CONFIG_HOME: config }, user: { allowImagePrivileges: true } },
    );
    const host = containerRequest(shell(ASKING, runtime)).HostConfig!;
    assert.equal(host.Privileged, true);
    assert.deepEqual(host.CapAdd, ['SYS_ADMIN']);
    assert.deepEqual(host.Mounts, [{ Type: 'bind', Source: '/', Target: '/host' }]);
    assert.ok(toDockerRunArgs(containerRequest(shell(ASKING, runtime))).includes('--privileged'), 'the copied docker run line too');

    await checkImagePrivileges({ ref: 'python-ml:abc123', details: ASKING }, '/w', runtime);
    const file = path.join(config, 'ml-containers', 'image-privileges.json');
    assert.equal(imagePrivilegesFile({ XDG_CONFIG_HOME: config }), file);
    assert.deepEqual(await allowedImages(file), [ASKING.id]);
    const later = await runtimeSettings({}, { workspace: '/w', hostEnv: { XDG_CONFIG_HOME: config } });
    assert.equal(
      containerRequest(shell(ASKING, later)).HostConfig?.Privileged,
      true,
      'the next command, without the flag, finds the consent',
    );
    const other = imageDetails({ ...ASKING, id: `sha256:${'b'.repeat(64)}` });
    assert.throws(
      () => containerRequest(shell(other, later)),
      ImagePrivilegesError,
      'another image (another id, same labels) is asked again',
    );
  });

  it('apply without asking where they come from a Feature devcontainer.json lists (its capAdd SYS_PTRACE), whatever its version tag', async () => {
    const details = imageDetails({
      labels: metadata([{ id: 'ghcr.io/devcontainers/features/common-utils:2.5', capAdd: ['SYS_PTRACE'] }, { remoteUser: 'vscode' }]),
    });
    const runtime = await runtimeSettings(
      { features: { 'ghcr.io/devcontainers/features/common-utils:2': {} } },
      { workspace: '/w', hostEnv: { XDG_CONFIG_HOME: config } },
    );
    assert.deepEqual(runtime.imageConsent?.features, ['ghcr.io/devcontainers/features/common-utils:2']);
    assert.deepEqual(containerRequest(shell(details, runtime, 'dimuon:latest')).HostConfig?.CapAdd, ['SYS_PTRACE']);
    const none = await runtimeSettings({}, { workspace: '/w', hostEnv: {} });
    assert.throws(
      () => containerRequest(shell(details, none, 'dimuon:latest')),
      /^ImagePrivilegesError: The image dimuon:latest asks for capability SYS_PTRACE through/,
    );
  });

  it("a base entry that borrows the id of a Feature the project lists is still the image's: only the last entry with that id is the project's", () => {
    const labels = metadata([
      {
        id: 'ghcr.io/devcontainers/features/docker-in-docker:2',
        privileged: true,
        mounts: ['type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock'],
      },
      {
        id: 'ghcr.io/devcontainers/features/docker-in-docker:2',
        privileged: true,
        capAdd: ['NET_ADMIN'],
        mounts: [{ type: 'volume', source: 'dind-var-lib-docker', target: '/var/lib/docker' }],
      },
    ]);
    const { asked, applied } = imagePrivileges(labels, '/w', ['ghcr.io/devcontainers/features/docker-in-docker:2']);
    assert.equal(describeAsked(asked), 'privileged mode and a bind mount of /var/run/docker.sock at /var/run/docker.sock');
    assert.deepEqual(
      applied.mounts.map((m) => m.Target),
      ['/var/run/docker.sock', '/var/lib/docker'],
      "agreed to, all of it applies in the label's order",
    );
    assert.deepEqual(applied.capAdd, ['NET_ADMIN']);
  });

  it('volumes, tmpfs and no-new-privileges need no consent; every other security option and each bind does', () => {
    const quiet = imagePrivileges(
      metadata([
        {
          id: 'x/y/z:1',
          mounts: [{ type: 'volume', source: 'cache', target: '/cache' }, 'type=tmpfs,target=/scratch'],
          securityOpt: ['no-new-privileges'],
        },
      ]),
      '/w',
      [],
    );
    assert.equal(describeAsked(quiet.asked), '');
    assert.equal(
      containerRequest(
        shell(
          imageDetails({ labels: metadata([{ id: 'x/y/z:1', mounts: [{ type: 'volume', source: 'cache', target: '/cache' }] }]) }),
          undefined,
        ),
      ).HostConfig?.Mounts?.[0]?.Target,
      '/cache',
    );
    const loud = imagePrivileges(
      metadata([
        {
          id: 'x/y/z:1',
          securityOpt: ['seccomp=unconfined', 'label=disable'],
          capAdd: ['SYS_ADMIN', 'NET_ADMIN'],
          mounts: ['type=bind,source=/etc,target=/host-etc,readonly', 'type=bind,source=/root,target=/r'],
        },
      ]),
      '/w',
      [],
    );
    assert.equal(
      describeAsked(loud.asked),
      'capabilities SYS_ADMIN, NET_ADMIN, security options seccomp=unconfined, label=disable and bind mounts of /etc at /host-etc (read-only), /root at /r',
    );
  });

  it('compares Feature ids without their version or digest; local folders and URLs as written', () => {
    assert.equal(featureKey('ghcr.io/devcontainers/features/common-utils:2'), 'ghcr.io/devcontainers/features/common-utils');
    assert.equal(
      featureKey(`ghcr.io/devcontainers/features/common-utils@sha256:${'c'.repeat(64)}`),
      'ghcr.io/devcontainers/features/common-utils',
    );
    assert.equal(featureKey('localhost:5000/features/x:1'), 'localhost:5000/features/x');
    assert.equal(featureKey('./features/a/'), './features/a');
    assert.equal(featureKey('https://example.com/f.tgz'), 'https://example.com/f.tgz');
  });

  it('the consent file is read as hostile input: a link, a wrong shape or a huge file counts as none; without a home nothing is remembered', async () => {
    const file = path.join(config, 'ml-containers', 'image-privileges.json');
    await rememberImagePrivileges(file, ASKING.id, 'privileged mode');
    assert.deepEqual(await allowedImages(file), [ASKING.id]);
    const link = path.join(config, 'link.json');
    fs.symlinkSync(file, link);
    assert.deepEqual(await allowedImages(link), []);
    fs.writeFileSync(file, JSON.stringify({ images: { 'not-an-id': {}, [ASKING.id]: 'yes' } }));
    assert.deepEqual(await allowedImages(file), []);
    fs.writeFileSync(file, `{"images":{},"pad":"${'x'.repeat(1024 * 1024)}"}`);
    assert.deepEqual(await allowedImages(file), []);
    assert.equal(imagePrivilegesFile({}), undefined);
    assert.equal(imagePrivilegesFile({ HOME: '/home/ada' }), '/home/ada/.config/ml-containers/image-privileges.json');
  });
});

describe('runs of an image that asks for privileges', () => {
  const git: GitProvider = { info: () => Promise.resolve(undefined) };
  let config: string;
  beforeEach(() => {
    config = tmp('mlc-imgpriv-config-');
  });
  afterEach(() => fs.rmSync(config, { recursive: true, force: true }));

  const run = (engine: FakeEngine, dir: string, allow: boolean) =>
    runExperiment({
      engine,
      workspace: dir,
      config: 'exp.yaml',
      image: 'python-ml:abc123',
      command: ['python', 'train.py'],
      gpu: 'none',
      shmSizeBytes: 1,
      git,
      log: silentLogger('run'),
      hostEnv: { XDG_CONFIG_HOME: config },
      ...(allow ? { runtime: { allowImagePrivileges: true } } : {}),
    });

  it('mlc run refuses before a plan, a record or a container exists; with the flag it runs privileged, and the next run needs no flag', async () => {
    const dir = project();
    const engine = new FakeEngine();
    engine.images.set('python-ml:abc123', ASKING);
    engine.runScript = () => ({ output: 'ok\n', exitCode: 0 });
    await assert.rejects(run(engine, dir, false), refused);
    assert.equal(fs.existsSync(path.join(dir, PLANS_DIR)), false, 'no plan written');
    assert.equal(engine.requests.size, 0);

    await run(engine, dir, true);
    const [request] = [...engine.requests.values()];
    assert.equal(request?.HostConfig?.Privileged, true);
    assert.deepEqual(request?.HostConfig?.CapAdd, ['SYS_ADMIN']);
    await run(engine, dir, false);
    assert.equal(engine.requests.size, 2);
  });

  it('a Slurm submission renders no task of such an image without consent', async () => {
    const ws = tmp('mlc-imgpriv-slurm-');
    const plan: ExperimentPlan = {
      id: 'S',
      sweep: false,
      workspace: ws,
      image: { id: ASKING.id, ref: 'python-ml:abc123', tags: ['python-ml:abc123'], revision: null, dirty: false },
      code: 'workspace',
      commit: null,
      dirty: false,
      config: { path: 'exp.yaml', name: 'exp.yaml' },
      command: ['python', 'train.py'],
      gpu: 'none',
      parallel: undefined,
      shmSizeBytes: 1024,
      created: '2026-11-25T10:00:00Z',
      warnings: [],
      points: [{ runId: 'S', index: 0, params: {}, text: 'lr: 0\n', sha256: '0'.repeat(64) }],
    };
    const slurm = new FakeSlurm();
    const runtime = await runtimeSettings({}, { workspace: ws, hostEnv: { XDG_CONFIG_HOME: config } });
    await assert.rejects(
      submitToSlurm({ plan, image: ASKING, runtime, slurm, options: {}, recorder: { node: 'node', cli: 'cli.js' } }),
      refused,
    );
    assert.deepEqual(slurm.submitted, []);
    await rememberImagePrivileges(path.join(config, 'ml-containers', 'image-privileges.json'), ASKING.id, 'privileged mode');
    const agreed = await runtimeSettings({}, { workspace: ws, hostEnv: { XDG_CONFIG_HOME: config } });
    const s = await submitToSlurm({
      plan,
      image: ASKING,
      runtime: agreed,
      slurm,
      options: {},
      recorder: { node: 'node', cli: 'cli.js' },
      dryRun: true,
    });
    assert.match(s.script, /--privileged/);
  });
});

describe('VS Code asks once per image, in a modal naming what is asked', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let config: string;
  const saved = process.env.XDG_CONFIG_HOME;
  beforeEach(() => {
    ({ record, uninstall } = installFakeVscode());
    config = tmp('mlc-imgpriv-vscode-');
    process.env.XDG_CONFIG_HOME = config;
  });
  afterEach(() => {
    uninstall();
    if (saved === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = saved;
    fs.rmSync(config, { recursive: true, force: true });
  });

  /** A start that needs consent until the host-side list has the image, as every real start reads it. */
  const starter = () => {
    const { withImagePrivilegeConsent } = loadFresh<typeof Consent>('src/vscode/imagePrivileges');
    // The class the fresh modules throw and catch.
    const core = createRequire(__filename)('../../../../src/core/container/imagePrivileges') as typeof Core;
    let starts = 0;
    const start = async (): Promise<string> => {
      starts++;
      const runtime = await runtimeSettings({}, { workspace: '/w', hostEnv: { XDG_CONFIG_HOME: config } });
      if (!runtime.imageConsent?.allowed.includes(ASKING.id))
        throw new core.ImagePrivilegesError(
          ASKING.id,
          'python-ml:abc123',
          'privileged mode, capability SYS_ADMIN and a bind mount of / at /host',
        );
      return 'started';
    };
    return { run: () => withImagePrivilegeConsent(start), starts: () => starts };
  };

  it('"Allow for this image" remembers the image and starts again; the next start asks nothing', async () => {
    const s = starter();
    record.answers.push('Allow for this image');
    assert.equal(await s.run(), 'started');
    assert.equal(s.starts(), 2);
    assert.equal(record.messages.length, 1);
    assert.equal(
      record.messages[0]!.text,
      'The image python-ml:abc123 asks for privileged mode, capability SYS_ADMIN and a bind mount of / at /host through its devcontainer.metadata label.',
    );
    assert.deepEqual(record.messages[0]!.buttons, ['Allow for this image']);
    assert.deepEqual(await allowedImages(path.join(config, 'ml-containers', 'image-privileges.json')), [ASKING.id]);
    assert.equal(await s.run(), 'started');
    assert.equal(record.messages.length, 1, 'asked once per image');
  });

  it('dismissed, nothing starts and nothing is remembered', async () => {
    const s = starter();
    await assert.rejects(s.run(), (e: unknown) => e instanceof Error && e.constructor.name === 'CancellationError');
    assert.equal(s.starts(), 1);
    assert.deepEqual(fs.readdirSync(config), []);
  });
});
