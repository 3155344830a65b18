import type { BuildRequest } from './engine';

/** The credential fields of dockerode's ImageBuildOptions: `authconfig` for BuildKit, `registryconfig` for the classic builder. */
export interface BuildAuthOptions {
  authconfig?: { username: string; password: string };
  registryconfig?: Record<string, { username: string; password: string }>;
}

/**
 * Registry credentials as dockerode sends them: for BuildKit, the one `authconfig` its session answers with (an
 * identity token goes as the secret with no username, as the docker CLI's session does); for the classic builder,
 * X-Registry-Config, keyed by registry.
 */
export function buildAuthOptions(request: BuildRequest): BuildAuthOptions {
  const entries = request.registryAuth ?? [];
  if (!entries.length) return {};
  if (request.buildKit) {
    if (entries.length > 1) throw new Error('BuildKit builds take credentials for one registry only');
    const { auth } = entries[0]!;
    return {
      authconfig: auth.identitytoken
        ? { username: '', password: auth.identitytoken }
        : { username: auth.username ?? '', password: auth.password ?? '' },
    };
  }
  // The engine also takes identitytoken here; @types/dockerode declares only username and password.
  return {
    registryconfig: Object.fromEntries(entries.map((e) => [e.auth.serveraddress ?? e.host, e.auth])) as BuildAuthOptions['registryconfig'],
  };
}
