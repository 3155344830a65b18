import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { EndpointInputs } from '../../../../src/core/docker/endpoint';
import { EndpointError, describeEndpoint, parseDockerHost, redact, resolveEndpoint } from '../../../../src/core/docker/endpoint';

const HOME = '/home/ada';

function inputs(env: Record<string, string>, files: Record<string, string> = {}, setting?: string): EndpointInputs {
  return { env, homeDir: HOME, platform: 'linux', readFile: (f) => files[f], ...(setting ? { setting } : {}) };
}

function contextFiles(
  name: string,
  host: string,
  configDir = path.join(HOME, '.docker'),
  extra: Record<string, string> = {},
): Record<string, string> {
  const id = createHash('sha256').update(name).digest('hex');
  return {
    [path.join(configDir, 'contexts', 'meta', id, 'meta.json')]: JSON.stringify({
      Name: name,
      Endpoints: { docker: { Host: host, SkipTLSVerify: false } },
    }),
    ...Object.fromEntries(Object.entries(extra).map(([f, v]) => [path.join(configDir, 'contexts', 'tls', id, 'docker', f), v])),
  };
}

describe('endpoint resolution', () => {
  it('uses the default unix socket when nothing is configured', () => {
    const e = resolveEndpoint(inputs({}));
    assert.equal(e.host, 'unix:///var/run/docker.sock');
    assert.equal(e.socketPath, '/var/run/docker.sock');
    assert.equal(e.source, 'default');
  });

  it('uses the Windows named pipe by default on win32', () => {
    const e = resolveEndpoint({ ...inputs({}), platform: 'win32' });
    assert.equal(e.protocol, 'npipe');
    assert.equal(e.socketPath, '//./pipe/docker_engine');
  });

  it('prefers the setting over DOCKER_HOST, and DOCKER_HOST over the current context', () => {
    const files = {
      [path.join(HOME, '.docker', 'config.json')]: JSON.stringify({ currentContext: 'remote' }),
      ...contextFiles('remote', 'tcp://ctx:2375'),
    };
    assert.equal(resolveEndpoint(inputs({}, files)).host, 'tcp://ctx:2375');
    assert.equal(resolveEndpoint(inputs({ DOCKER_HOST: 'unix:///tmp/env.sock' }, files)).host, 'unix:///tmp/env.sock');
    const fromSetting = resolveEndpoint(inputs({ DOCKER_HOST: 'unix:///tmp/env.sock' }, files, 'tcp://setting:2375'));
    assert.equal(fromSetting.host, 'tcp://setting:2375');
    assert.equal(fromSetting.source, 'setting');
  });

  it('reads the current context from config.json and its endpoint from contexts/meta/<sha256>', () => {
    const files = {
      [path.join(HOME, '.docker', 'config.json')]: JSON.stringify({ currentContext: 'rootless' }),
      ...contextFiles('rootless', 'unix:///run/user/1000/docker.sock'),
    };
    const e = resolveEndpoint(inputs({}, files));
    assert.equal(e.socketPath, '/run/user/1000/docker.sock');
    assert.equal(e.source, 'context');
    assert.equal(e.contextName, 'rootless');
    assert.match(describeEndpoint(e), /docker context "rootless"/);
  });

  it('honours DOCKER_CONTEXT over currentContext, and DOCKER_CONFIG for the config folder', () => {
    const configDir = '/etc/dockercfg';
    const files = {
      [path.join(configDir, 'config.json')]: JSON.stringify({ currentContext: 'a' }),
      ...contextFiles('a', 'tcp://a:2375', configDir),
      ...contextFiles('b', 'tcp://b:2375', configDir),
    };
    assert.equal(resolveEndpoint(inputs({ DOCKER_CONFIG: configDir }, files)).host, 'tcp://a:2375');
    const e = resolveEndpoint(inputs({ DOCKER_CONFIG: configDir, DOCKER_CONTEXT: 'b' }, files));
    assert.equal(e.host, 'tcp://b:2375');
    assert.equal(e.source, 'DOCKER_CONTEXT');
  });

  it('treats the context named "default" as the default socket', () => {
    const files = { [path.join(HOME, '.docker', 'config.json')]: JSON.stringify({ currentContext: 'default' }) };
    assert.equal(resolveEndpoint(inputs({}, files)).source, 'default');
  });

  it("uses a context's TLS files when it has them", () => {
    const files = {
      [path.join(HOME, '.docker', 'config.json')]: JSON.stringify({ currentContext: 'secure' }),
      ...contextFiles('secure', 'tcp://gpu-box:2376', undefined, { 'ca.pem': 'x', 'cert.pem': 'y', 'key.pem': 'z' }),
    };
    const e = resolveEndpoint(inputs({}, files));
    assert.ok(e.tls);
    assert.equal(e.tls.verify, true);
    assert.match(e.tls.caFile ?? '', /contexts\/tls\/[0-9a-f]{64}\/docker\/ca\.pem$/);
  });

  it('says which context is missing and how to pick another', () => {
    const files = { [path.join(HOME, '.docker', 'config.json')]: JSON.stringify({ currentContext: 'gone' }) };
    assert.throws(
      () => resolveEndpoint(inputs({}, files)),
      (e: unknown) => e instanceof EndpointError && /"gone" was not found/.test(e.message) && /docker context use default/.test(e.message),
    );
  });

  it('falls back to the default socket when config.json is not JSON', () => {
    const files = { [path.join(HOME, '.docker', 'config.json')]: '{ nope' };
    assert.equal(resolveEndpoint(inputs({}, files)).source, 'default');
  });

  it('turns on TLS from DOCKER_TLS_VERIFY with certificates from DOCKER_CERT_PATH', () => {
    const e = resolveEndpoint(inputs({ DOCKER_HOST: 'tcp://gpu-box:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' }));
    assert.equal(e.protocol, 'tcp');
    assert.equal(e.port, 2376);
    assert.deepEqual(e.tls, { caFile: '/certs/ca.pem', certFile: '/certs/cert.pem', keyFile: '/certs/key.pem', verify: true });
  });

  it('defaults the TLS certificate folder to ~/.docker', () => {
    const e = resolveEndpoint(inputs({ DOCKER_HOST: 'tcp://gpu-box', DOCKER_TLS_VERIFY: '1' }));
    assert.equal(e.tls?.caFile, path.join(HOME, '.docker', 'ca.pem'));
    assert.equal(e.port, 2376);
  });

  it('uses port 2375 for plain tcp and accepts a bare host:port', () => {
    assert.equal(parseDockerHost('tcp://build-node', 'DOCKER_HOST', undefined).port, 2375);
    const bare = parseDockerHost('10.0.0.5:4243', 'DOCKER_HOST', undefined);
    assert.equal(bare.host, 'tcp://10.0.0.5:4243');
  });

  it('parses ssh:// with user and port, and keeps no password in the address', () => {
    const e = parseDockerHost('ssh://hep:secret@lxplus.example:2222', 'DOCKER_HOST', undefined);
    assert.equal(e.protocol, 'ssh');
    assert.equal(e.username, 'hep');
    assert.equal(e.hostname, 'lxplus.example');
    assert.equal(e.port, 2222);
    assert.equal(e.host, 'ssh://hep@lxplus.example:2222');
    assert.doesNotMatch(JSON.stringify(e), /secret/);
  });

  it('rejects unsupported schemes and relative sockets with a message that shows valid forms', () => {
    assert.throws(() => parseDockerHost('fd://3', 'DOCKER_HOST', undefined), /unsupported scheme "fd".*unix:\/\//);
    assert.throws(() => parseDockerHost('unix://relative.sock', 'DOCKER_HOST', undefined), /absolute socket path/);
  });

  it('redacts a password in an address', () => {
    assert.equal(redact('tcp://user:hunter2@host:2375'), 'tcp://user:***@host:2375');
  });
});
