import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CredentialHelperRunner, DockerConfig } from '../../../../src/core/docker/registryAuth';
import {
  DOCKER_HUB_KEY,
  RegistryAuthError,
  credentialKey,
  dockerConfigFile,
  loadRegistryAuth,
  loginCommand,
  parseDockerConfig,
  processCredentialHelper,
  registryHost,
  resolveRegistryAuth,
} from '../../../../src/core/docker/registryAuth';

const SECRET = 'hunter2-Sekr3t';
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const config = (json: unknown): DockerConfig => parseDockerConfig(JSON.stringify(json), '/home/ada/.docker/config.json');
const noHelpers: CredentialHelperRunner = async (helper) => {
  throw new Error(`no helper ${helper} expected`);
};

/** Asserts the call rejects with a RegistryAuthError that does not quote the secret. */
async function rejectsWithoutSecret(call: () => unknown, pattern: RegExp): Promise<void> {
  await assert.rejects(
    async () => call(),
    (e: unknown) => {
      assert.ok(e instanceof RegistryAuthError, String(e));
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes(SECRET) && !e.message.includes(b64(`ada:${SECRET}`)), `secret in: ${e.message}`);
      return true;
    },
  );
}

describe('registry credentials (docker config.json and credential helpers)', () => {
  describe('registry host and credential key, as docker normalizes them', () => {
    it('takes the first component as the host only when it has a dot, a port or is localhost', () => {
      assert.equal(registryHost('myproj:latest'), 'docker.io');
      assert.equal(registryHost('alice/myproj:abc1234'), 'docker.io');
      assert.equal(registryHost('ghcr.io/alice/myproj:abc1234'), 'ghcr.io');
      assert.equal(registryHost('127.0.0.1:5000/myproj:abc1234'), '127.0.0.1:5000');
      assert.equal(registryHost('localhost/myproj'), 'localhost');
      assert.equal(registryHost('index.docker.io/alice/myproj'), 'docker.io');
    });

    it('files Docker Hub under its legacy URL and every other registry under host[:port]', () => {
      assert.equal(credentialKey('docker.io'), 'https://index.docker.io/v1/');
      assert.equal(credentialKey('index.docker.io'), DOCKER_HUB_KEY);
      assert.equal(credentialKey('registry.example.org:5000'), 'registry.example.org:5000');
      assert.equal(loginCommand('docker.io'), 'docker login');
      assert.equal(loginCommand('ghcr.io'), 'docker login ghcr.io');
    });

    it('reads $DOCKER_CONFIG/config.json, else ~/.docker/config.json', () => {
      assert.equal(dockerConfigFile({ DOCKER_CONFIG: '/etc/ci-docker' }, '/home/ada'), '/etc/ci-docker/config.json');
      assert.equal(dockerConfigFile({}, '/home/ada'), '/home/ada/.docker/config.json');
    });
  });

  describe('config.json auths', () => {
    it('decodes auth (base64 user:password, a colon in the password kept) for the registry host', async () => {
      const c = config({ auths: { '127.0.0.1:5000': { auth: b64(`ada:${SECRET}:x`) }, 'ghcr.io': { auth: b64('bob:other') } } });
      const r = await resolveRegistryAuth('127.0.0.1:5000', c, noHelpers);
      assert.deepEqual(r.auth, { serveraddress: '127.0.0.1:5000', username: 'ada', password: `${SECRET}:x` });
      assert.equal(r.source, '/home/ada/.docker/config.json');
    });

    it("finds Docker Hub's entry under https://index.docker.io/v1/ and legacy URL keys by their hostname", async () => {
      const c = config({ auths: { [DOCKER_HUB_KEY]: { auth: b64('ada:hub') }, 'https://ghcr.io/v1/': { auth: b64('ada:gh') } } });
      assert.equal((await resolveRegistryAuth('docker.io', c, noHelpers)).auth?.password, 'hub');
      assert.equal((await resolveRegistryAuth('ghcr.io', c, noHelpers)).auth?.password, 'gh');
    });

    it('sends an identitytoken when the entry has one', async () => {
      const c = config({ auths: { 'registry.example.org': { identitytoken: SECRET } } });
      assert.deepEqual((await resolveRegistryAuth('registry.example.org', c, noHelpers)).auth, {
        serveraddress: 'registry.example.org',
        identitytoken: SECRET,
      });
    });

    it('pushes anonymously, and says why, when there is no entry, an empty one, or no config.json', async () => {
      const c = config({ auths: { 'ghcr.io': {}, 'other.example.org': { auth: b64('x:y') } } });
      const empty = await resolveRegistryAuth('ghcr.io', c, noHelpers);
      assert.equal(empty.auth, undefined);
      assert.match(empty.source, /^none \(no entry for ghcr\.io/);
      assert.equal((await resolveRegistryAuth('quay.io', c, noHelpers)).auth, undefined);
      assert.deepEqual(await resolveRegistryAuth('quay.io', undefined, noHelpers), {
        auth: undefined,
        source: 'none (no docker config.json)',
      });
    });
  });

  describe('credential helpers', () => {
    it('asks the credHelpers entry for this registry first, then credsStore; auths are not consulted then (as docker)', async () => {
      const asked: string[] = [];
      const run: CredentialHelperRunner = async (helper, url) => {
        asked.push(`${helper} ${url}`);
        return { exitCode: 0, stdout: JSON.stringify({ ServerURL: url, Username: `${helper}-user`, Secret: SECRET }) };
      };
      const c = config({
        credsStore: 'desktop',
        credHelpers: { 'gcr.io': 'gcloud' },
        auths: { 'gcr.io': { auth: b64('file:user') }, 'ghcr.io': { auth: b64('file:user') } },
      });
      const gcr = await resolveRegistryAuth('gcr.io', c, run);
      assert.deepEqual(gcr.auth, { username: 'gcloud-user', password: SECRET, serveraddress: 'gcr.io' });
      assert.equal(gcr.source, 'credential helper docker-credential-gcloud');
      const ghcr = await resolveRegistryAuth('ghcr.io', c, run);
      assert.equal(ghcr.auth?.username, 'desktop-user');
      assert.equal(ghcr.source, 'credsStore docker-credential-desktop');
      await resolveRegistryAuth('docker.io', c, run);
      assert.deepEqual(asked, ['gcloud gcr.io', 'desktop ghcr.io', `desktop ${DOCKER_HUB_KEY}`]);
    });

    it('maps the helper user "<token>" to an identitytoken', async () => {
      const run: CredentialHelperRunner = async () => ({ exitCode: 0, stdout: JSON.stringify({ Username: '<token>', Secret: SECRET }) });
      const r = await resolveRegistryAuth('ghcr.io', config({ credsStore: 'pass' }), run);
      assert.deepEqual(r.auth, { identitytoken: SECRET, serveraddress: 'ghcr.io' });
    });

    it('treats "credentials not found" as no credentials, not as a failure', async () => {
      const run: CredentialHelperRunner = async () => ({ exitCode: 1, stdout: 'credentials not found in native keychain\n' });
      const r = await resolveRegistryAuth('ghcr.io', config({ credsStore: 'osxkeychain' }), run);
      assert.equal(r.auth, undefined);
      assert.match(r.source, /^none \(credsStore docker-credential-osxkeychain has none for ghcr\.io\)$/);
    });

    it('refuses a helper name that is not a plain name (it becomes a program name)', () => {
      assert.throws(
        () => config({ credHelpers: { 'ghcr.io': '../../bin/sh' } }),
        /credHelpers\["ghcr\.io"\] is not a credential helper name/,
      );
      assert.throws(() => config({ credsStore: 42 }), /"credsStore" is not a credential helper name/);
    });
  });

  describe('a real credential helper on PATH (the protocol the docker CLI speaks)', () => {
    let dir: string;
    let env: Record<string, string | undefined>;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-credhelper-'));
      const bin = path.join(dir, 'bin');
      fs.mkdirSync(bin);
      // Answers for 127.0.0.1:5000, "not found" for anything else, garbage (with the secret) for bad.example.org.
      fs.writeFileSync(
        path.join(bin, 'docker-credential-mlctest'),
        `#!/bin/sh
[ "$1" = get ] || exit 3
read -r url
echo "$url" >> "${dir}/asked"
case "$url" in
  127.0.0.1:5000) printf '{"ServerURL":"%s","Username":"ada","Secret":"${SECRET}"}\\n' "$url" ;;
  bad.example.org) echo 'not json ${SECRET}' ;;
  broken.example.org) echo 'keychain locked: ${SECRET}'; exit 2 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
`,
        { mode: 0o755 },
      );
      fs.writeFileSync(
        path.join(dir, 'config.json'),
        JSON.stringify({ credsStore: 'mlctest', credHelpers: { 'missing.example.org': 'nosuchhelper' } }),
      );
      env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, DOCKER_CONFIG: dir };
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('runs docker-credential-<name> get with the server URL on stdin and reads {Username, Secret}', async () => {
      const r = await loadRegistryAuth('127.0.0.1:5000', env, '/nonexistent-home');
      assert.deepEqual(r.auth, { username: 'ada', password: SECRET, serveraddress: '127.0.0.1:5000' });
      assert.equal(fs.readFileSync(path.join(dir, 'asked'), 'utf8'), '127.0.0.1:5000\n');
      const none = await loadRegistryAuth('docker.io', env, '/nonexistent-home');
      assert.equal(none.auth, undefined);
    });

    it('says which helper is missing from PATH', async () => {
      await rejectsWithoutSecret(
        () => loadRegistryAuth('missing.example.org', env, '/nonexistent-home'),
        /docker-credential-nosuchhelper is not on PATH: install it, or remove "nosuchhelper"/,
      );
    });

    it('never quotes what a failing or confused helper printed', async () => {
      await rejectsWithoutSecret(
        () => loadRegistryAuth('bad.example.org', env, '/nonexistent-home'),
        /docker-credential-mlctest get answered something other than \{"Username", "Secret"\} JSON/,
      );
      await rejectsWithoutSecret(
        () => loadRegistryAuth('broken.example.org', env, '/nonexistent-home'),
        /docker-credential-mlctest get failed \(exit 2\) for broken\.example\.org: run `docker login broken\.example\.org`/,
      );
    });

    it('looks the helper up on the PATH it is given, not on process.env', async () => {
      const run = processCredentialHelper({ PATH: '/nonexistent' });
      await assert.rejects(run('mlctest', '127.0.0.1:5000'), /docker-credential-mlctest is not on PATH/);
    });
  });

  describe('no secrets in errors', () => {
    it('a malformed config.json is reported without quoting it (JSON.parse would)', async () => {
      // Node's own message here would be: Unexpected token 'h', "{"auths": {"ghcr.io": {"password": hunter2-…" is not valid JSON
      const text = `{"auths": {"ghcr.io": {"password": ${SECRET}}}}`;
      await rejectsWithoutSecret(() => parseDockerConfig(text, '/c/config.json'), /^\/c\/config\.json is not valid JSON: fix or remove it/);
    });

    it('an auth field that is not base64 user:password is named, not shown', async () => {
      const c = config({ auths: { 'ghcr.io': { auth: b64(SECRET) } } });
      await rejectsWithoutSecret(
        () => resolveRegistryAuth('ghcr.io', c, noHelpers),
        /auths\["ghcr\.io"\]\.auth is not base64 of user:password: run `docker login ghcr\.io` again/,
      );
    });

    it('a field of the wrong type is named, not shown', async () => {
      await rejectsWithoutSecret(
        () => config({ auths: { 'ghcr.io': { password: [SECRET] } } }),
        /auths\["ghcr\.io"\]\.password is not a string/,
      );
    });
  });
});
