import * as assert from 'node:assert/strict';
import { parseDockerHost } from '../../../../src/core/docker/endpoint';
import { EngineError, toEngineError } from '../../../../src/core/docker/errors';

const unix = parseDockerHost('unix:///var/run/docker.sock', 'default', undefined);
const tcp = parseDockerHost('tcp://gpu-box:2375', 'DOCKER_HOST', undefined);

function nodeError(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}

describe('engine error mapping', () => {
  it('says the engine is not running, and how to start it, when the socket is missing', () => {
    const e = toEngineError(nodeError('ENOENT'), unix);
    assert.equal(e.reason, 'notRunning');
    assert.match(e.message, /not running at unix:\/\/\/var\/run\/docker\.sock: start Docker/);
    assert.doesNotMatch(e.message, /\n/);
  });

  it('points at a Podman socket when one is there', () => {
    const e = toEngineError(nodeError('ECONNREFUSED'), unix, { podmanSocket: '/run/user/1000/podman/podman.sock' });
    assert.match(e.message, /Podman socket exists at \/run\/user\/1000\/podman\/podman\.sock/);
    assert.match(e.message, /unix:\/\/\/run\/user\/1000\/podman\/podman\.sock/);
  });

  it('gives the docker group and rootless hints on permission denied', () => {
    const e = toEngineError(nodeError('EACCES'), unix);
    assert.equal(e.reason, 'permissionDenied');
    assert.match(e.message, /usermod -aG docker/);
    assert.match(e.message, /rootless/);
  });

  it('calls a remote host unreachable and names the error code', () => {
    const e = toEngineError(nodeError('EHOSTUNREACH'), tcp);
    assert.equal(e.reason, 'unreachable');
    assert.match(e.message, /tcp:\/\/gpu-box:2375 is unreachable \(EHOSTUNREACH\)/);
  });

  it('maps TLS failures to the certificate folder', () => {
    const e = toEngineError(nodeError('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), tcp);
    assert.equal(e.reason, 'tls');
    assert.match(e.message, /DOCKER_CERT_PATH/);
  });

  it("carries the engine's own message and status for API errors", () => {
    const e = toEngineError(
      Object.assign(new Error('(HTTP code 404) no such image'), { statusCode: 404, json: { message: 'No such image: nope:latest' } }),
      unix,
    );
    assert.equal(e.reason, 'notFound');
    assert.equal(e.statusCode, 404);
    assert.match(e.message, /No such image: nope:latest/);
  });

  it("says in one sentence what to do about Podman's refusals, keeping the engine's words in raw", () => {
    const api = (message: string, statusCode = 500): Error => Object.assign(new Error(message), { statusCode, json: { message } });
    const cases: [string, RegExp][] = [
      [
        'container create: container-init binary not found on the host: stat /usr/libexec/podman/catatonit: no such file or directory',
        /refused: Podman has no init binary \(\/usr\/libexec\/podman\/catatonit is missing\).*install catatonit \(`sudo apt-get install catatonit`\)/,
      ],
      [
        'container create: stat nvidia.com/gpu=all: no such file or directory',
        /refused: no CDI spec names nvidia\.com\/gpu=all .*`sudo nvidia-ctk cdi generate --output=\/etc\/cdi\/nvidia\.yaml`, or run on CPU/,
      ],
      [
        'runc: runc create failed: unable to start container process: error during container init: error setting rlimits for ready process: error setting rlimit type 7: operation not permitted: OCI permission denied',
        /refused: this host does not let the engine raise the nofile limit .*default_ulimits in \/etc\/containers\/containers\.conf/,
      ],
      ['crun: setrlimit `RLIMIT_NPROC`: Operation not permitted: OCI permission denied', /raise the nproc limit/],
    ];
    for (const [raw, sentence] of cases) {
      const e = toEngineError(api(raw, 404), unix);
      assert.match(e.message, sentence, raw);
      assert.equal(e.raw, raw);
      assert.notEqual(e.reason, 'notFound', 'a missing file on the engine is no missing image or container');
      assert.doesNotMatch(e.message, /\n/);
    }
    assert.equal(toEngineError(api('No such image: x', 404), unix).reason, 'notFound');
  });

  it('treats an aborted request as a cancellation', () => {
    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    assert.equal(toEngineError(abort, unix).reason, 'cancelled');
  });

  it('passes an EngineError through unchanged', () => {
    const original = new EngineError('x', 'conflict', 409);
    assert.equal(toEngineError(original, unix), original);
  });
});
