import * as assert from 'node:assert/strict';
import { parseDockerHost } from '../../src/core/docker/endpoint';
import { EngineError, toEngineError } from '../../src/core/docker/errors';

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

  it('carries the engine\'s own message and status for API errors', () => {
    const e = toEngineError(Object.assign(new Error('(HTTP code 404) no such image'), { statusCode: 404, json: { message: 'No such image: nope:latest' } }), unix);
    assert.equal(e.reason, 'notFound');
    assert.equal(e.statusCode, 404);
    assert.match(e.message, /No such image: nope:latest/);
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
