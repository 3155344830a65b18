import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { PlanInputs } from '../../../../src/core/build/buildPlan';
import { planBuild } from '../../../../src/core/build/buildPlan';
import { BuildFailedError } from '../../../../src/core/build/errors';
import type { EnginePing } from '../../../../src/core/docker/engine';
import { imageDetails } from '../../../helpers/images';

// The plan is pure: no engine, no files. The folder below never exists.
const FOLDER = path.resolve('/projects/dimuon');
const D1 = `sha256:${'1'.repeat(64)}`;
const SHA = 'abcdef1234567890abcdef1234567890abcdef12';
const DOCKER: EnginePing = { apiVersion: '1.47', osType: 'linux', isPodman: false, version: '27.3.1' };
const OLD_DOCKER: EnginePing = { apiVersion: '1.38', osType: 'linux', isPodman: false, version: '18.06.3' };
const PODMAN: EnginePing = { apiVersion: '1.41', osType: '', isPodman: true, version: '4.3.1' };
const DOCKERFILE =
  'ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE} AS train\nRUN --mount=type=cache,target=/root/.cache/pip pip install numpy\nCOPY . /workspace\n';

/** A Dockerfile project (context: the folder) on Docker with BuildKit, its base on the engine, at a clean commit. */
function inputs(over: Partial<PlanInputs> = {}): PlanInputs {
  const config = {
    name: 'dimuon',
    build: { dockerfile: 'Dockerfile', context: '..', target: 'train' },
    containerEnv: { MLC_PRESET: 'pytorch' },
  };
  return {
    folder: FOLDER,
    configPath: path.join(FOLDER, '.devcontainer', 'devcontainer.json'),
    config,
    rawConfig: config,
    source: { kind: 'dockerfile', dockerfile: path.join(FOLDER, '.devcontainer', 'Dockerfile'), contextDir: FOLDER },
    dockerfileText: DOCKERFILE,
    buildArgs: { BASE_IMAGE: 'lab/torch:2', EPOCHS: '3' },
    base: {
      ref: 'lab/torch:2',
      image: imageDetails({
        id: 'sha256:local',
        repoDigests: [`lab/torch@${D1}`],
        labels: { 'devcontainer.metadata': '[{"remoteUser":"dev"}]' },
      }),
    },
    imageName: 'dimuon',
    git: { sha: SHA, dirty: false },
    hyperparameters: undefined,
    features: [],
    lock: true,
    engine: DOCKER,
    now: new Date('2026-01-02T03:04:05Z'),
    stampSuffix: '0a1b2c3d',
    ...over,
  };
}

describe('the build plan', () => {
  describe('builder and transport, from what /_ping says', () => {
    it('syncs a Dockerfile project through a BuildKit session on Docker, where each registry gets its own credentials', () => {
      const plan = planBuild(inputs());
      assert.equal(plan.builder, 'buildkit');
      assert.equal(plan.builderName, 'BuildKit');
      assert.equal(plan.builderNote, undefined);
      assert.deepEqual(plan.transport, { kind: 'session' });
      assert.equal(plan.sharedCredentials, false);
      assert.equal(plan.contextDir, FOLDER);
      assert.equal(plan.request.buildKit, true);
    });

    it("uploads a tar to Podman's builder, and tells why there is no BuildKit without warning", () => {
      const plan = planBuild(inputs({ engine: PODMAN }));
      assert.equal(plan.builder, 'classic');
      assert.equal(plan.builderName, "Podman's builder");
      assert.equal(plan.builderNote?.level, 'info');
      assert.match(plan.builderNote?.text ?? '', /^Podman's Docker-compatible API has no BuildKit/);
      assert.equal(plan.transport.kind, 'tar');
      assert.match(plan.transport.kind === 'tar' ? plan.transport.reason : '', /Podman/);
      assert.equal(plan.sharedCredentials, false);
      assert.equal(plan.request.buildKit, false);
    });

    it('warns of the classic builder on a Docker too old for BuildKit (its RUN --mount is refused)', () => {
      const plan = planBuild(inputs({ engine: OLD_DOCKER, dockerfileText: 'FROM lab/torch:2\nCOPY . /workspace\n' }));
      assert.equal(plan.builder, 'classic');
      assert.equal(plan.builderName, 'the classic builder');
      assert.deepEqual(plan.builderNote, {
        level: 'warn',
        text: 'classic builder: Engine API 1.38 predates BuildKit (1.39); update Docker',
      });
      assert.equal(plan.transport.kind, 'tar');
      assert.throws(
        () => planBuild(inputs({ engine: OLD_DOCKER })),
        (e: unknown) =>
          e instanceof BuildFailedError &&
          /^Cannot build here: .*the classic builder refuses RUN --mount\. The Dockerfile uses RUN --mount, which needs BuildKit or Podman 4\.$/.test(
            e.message,
          ),
      );
    });

    it('refuses RUN --mount on a Podman older than 4, naming the update, and builds the same Dockerfile on Podman 4', () => {
      const podman3 = { ...PODMAN, version: '3.4.4' };
      assert.throws(
        () => planBuild(inputs({ engine: podman3 })),
        (e: unknown) =>
          e instanceof BuildFailedError &&
          /^Cannot build here: Podman 3\.4\.4's builder predates RUN --mount \(Podman 4\.0\); update Podman\./.test(e.message),
      );
      assert.equal(planBuild(inputs({ engine: podman3, dockerfileText: 'FROM lab/torch:2\n' })).builder, 'classic');
      assert.equal(planBuild(inputs({ engine: PODMAN })).builder, 'classic');
    });

    it("sends an image config's generated Dockerfile as a tar even on BuildKit, whose one shared answer then carries credentials", () => {
      const config = { image: 'python:3.12-slim', build: { target: 'ignored' } };
      const plan = planBuild(
        inputs({
          config,
          rawConfig: config,
          source: { kind: 'image', image: 'python:3.12-slim' },
          dockerfileText: 'FROM python:3.12-slim\n',
          buildArgs: {},
          base: { ref: 'python:3.12-slim', image: undefined },
        }),
      );
      assert.deepEqual(plan.transport, { kind: 'tar', reason: 'the context is generated' });
      assert.equal(plan.sharedCredentials, true);
      assert.equal(plan.contextDir, undefined);
      assert.equal(plan.request.dockerfile, 'Dockerfile');
      assert.equal(plan.request.target, undefined, 'a target names a stage of a Dockerfile the project has');
      assert.equal(plan.labels['org.mlcontainers.dockerfile.path'], '.devcontainer/devcontainer.json');
    });
  });

  describe('tags, labels and build args', () => {
    it('tags <name>:<sha7> and latest, marks uncommitted changes, and uses a timestamp without git', () => {
      assert.deepEqual(planBuild(inputs()).tags, ['dimuon:abcdef1', 'dimuon:latest']);
      assert.deepEqual(planBuild(inputs({ git: { sha: SHA, dirty: true } })).tags, ['dimuon:abcdef1-dirty', 'dimuon:latest']);
      assert.deepEqual(planBuild(inputs({ git: undefined })).tags, ['dimuon:20260102-030405', 'dimuon:latest']);
    });

    it('labels the commit, the base and the digest it has on the engine, the Dockerfile and the hyper-parameters', () => {
      const git = { sha: SHA, dirty: true, branch: 'main', remoteUrl: 'https://example.org/lab/dimuon.git', describe: 'v1.2' };
      const labels = planBuild(inputs({ git, hyperparameters: { path: 'configs/experiment.yaml', sha256: 'c'.repeat(64) } })).labels;
      assert.equal(labels['org.mlcontainers.managed'], 'true');
      assert.equal(labels['org.opencontainers.image.title'], 'dimuon');
      assert.equal(labels['org.opencontainers.image.revision'], SHA);
      assert.equal(labels['org.mlcontainers.dirty'], 'true');
      assert.equal(labels['org.mlcontainers.branch'], 'main');
      assert.equal(labels['org.mlcontainers.preset'], 'pytorch');
      assert.equal(labels['org.mlcontainers.base'], 'lab/torch:2');
      assert.equal(labels['org.mlcontainers.base.digest'], D1);
      assert.equal(labels['org.mlcontainers.dockerfile.path'], '.devcontainer/Dockerfile');
      assert.equal(labels['org.mlcontainers.dockerfile.sha256'], createHash('sha256').update(DOCKERFILE).digest('hex'));
      assert.equal(labels['org.mlcontainers.config.path'], 'configs/experiment.yaml');
      assert.equal(labels['org.mlcontainers.config.sha256'], 'c'.repeat(64));
    });

    it("passes the build args and the target, with the Dockerfile's path inside the context", () => {
      const request = planBuild(inputs()).request;
      assert.deepEqual(request.buildArgs, { BASE_IMAGE: 'lab/torch:2', EPOCHS: '3' });
      assert.equal(request.target, 'train');
      assert.equal(request.dockerfile, '.devcontainer/Dockerfile');
      assert.equal(request.registryAuth, undefined, 'credentials are found after the plan, and only for a build');
    });

    it('keeps a ${localEnv:…} value out of devcontainer.metadata: it names a secret of this machine', () => {
      const rawConfig = { build: { dockerfile: 'Dockerfile' }, containerEnv: { HF_TOKEN: '${localEnv:HF_TOKEN}', MODE: 'offline' } };
      const config = { build: { dockerfile: 'Dockerfile' }, containerEnv: { HF_TOKEN: 'hf_secret_value', MODE: 'offline' } };
      const plan = planBuild(inputs({ config, rawConfig, lock: false }));
      assert.deepEqual(plan.metadataSource.containerEnv, { MODE: 'offline' });
      const label = plan.labels['devcontainer.metadata'] ?? '';
      assert.match(label, /"MODE":"offline"/);
      assert.ok(!label.includes('hf_secret_value') && !label.includes('HF_TOKEN'), label);
    });
  });

  describe('what is built on top, and FROM what', () => {
    it('builds the lock layer FROM a temporary tag on Docker, the real tags waiting for it', () => {
      const plan = planBuild(inputs());
      assert.deepEqual(plan.layer, { stampTag: 'dimuon:mlc-stamp-0a1b2c3d', metadata: true, lock: true });
      assert.deepEqual(plan.request.tags, ['dimuon:mlc-stamp-0a1b2c3d']);
      assert.equal(plan.labels['devcontainer.metadata'], undefined, 'the layer carries devcontainer.metadata');
    });

    it('builds it FROM the image id on Podman, where removing a tag would drop the layer cache', () => {
      const plan = planBuild(inputs({ engine: PODMAN }));
      assert.deepEqual(plan.layer, { stampTag: undefined, metadata: true, lock: true });
      assert.deepEqual(plan.request.tags, []);
      assert.deepEqual(plan.tags, ['dimuon:abcdef1', 'dimuon:latest']);
    });

    it('installs Features in a layer that carries devcontainer.metadata, also without a lock', () => {
      const plan = planBuild(inputs({ lock: false, features: [{ userId: 'ghcr.io/devcontainers/features/git:1' }] }));
      assert.deepEqual(plan.layer, { stampTag: 'dimuon:mlc-stamp-0a1b2c3d', metadata: true, lock: false });
      assert.equal(plan.labels['devcontainer.metadata'], undefined);
    });

    it('adds no layer when there is nothing to add: the build takes the real tags and devcontainer.metadata itself', () => {
      const plan = planBuild(inputs({ lock: false }));
      assert.equal(plan.layer, undefined);
      assert.deepEqual(plan.request.tags, ['dimuon:abcdef1', 'dimuon:latest']);
      // Read against what the base left, then devcontainer.json's own entry.
      assert.deepEqual(JSON.parse(plan.labels['devcontainer.metadata'] ?? ''), [
        { remoteUser: 'dev' },
        { containerEnv: { MLC_PRESET: 'pytorch' } },
      ]);
    });

    it('adds a layer for the digest BuildKit may resolve when the base is not on the engine yet', () => {
      const plan = planBuild(inputs({ lock: false, base: { ref: 'lab/torch:2', image: undefined } }));
      assert.deepEqual(plan.base, { ref: 'lab/torch:2', digest: undefined });
      assert.equal(plan.labels['org.mlcontainers.base.digest'], undefined);
      assert.deepEqual(plan.layer, { stampTag: 'dimuon:mlc-stamp-0a1b2c3d', metadata: false, lock: false });
      assert.ok(plan.labels['devcontainer.metadata'], 'no later layer carries it: the build does');
    });
  });
});
