import * as assert from 'node:assert/strict';
import { parseDockerHost } from '../../../src/core/docker/endpoint';
import { formatDoctorReport, runDoctor } from '../../../src/core/doctor';
import { FakeEngine } from '../fakes/engine';

describe('mlc doctor: where the engine runs', () => {
  const noToolkit = (): Promise<never> => Promise.reject(new Error('a remote or Docker engine never reads CDI specs here'));
  const at = (host: string): FakeEngine =>
    new (class extends FakeEngine {
      override readonly endpoint = parseDockerHost(host, 'DOCKER_HOST', undefined);
    })();

  for (const host of ['tcp://gpu-box:2375', 'ssh://ada@gpu-box']) {
    it(`says an engine at ${host} is remote: builds work, runs, Jupyter and Open Shell refuse it, and the fix`, async () => {
      const lines = formatDoctorReport(await runDoctor(at(host), undefined, noToolkit));
      assert.deepEqual(
        lines.filter((l) => l.startsWith('Note: Remote engine')),
        [
          `Note: Remote engine: ${host} runs on another machine. Builds work (the project is sent to it), but runs, Jupyter and Open Shell refuse it, since they bind-mount the project folder, which it cannot see: run mlc on that host, or use a local engine for those.`,
        ],
      );
    });
  }

  for (const host of ['unix:///var/run/docker.sock', 'tcp://127.0.0.1:2375']) {
    it(`says nothing of the kind for ${host}, which is this machine`, async () => {
      const lines = formatDoctorReport(await runDoctor(at(host), undefined, noToolkit));
      assert.deepEqual(
        lines.filter((l) => /remote/i.test(l)),
        [],
      );
    });
  }
});
