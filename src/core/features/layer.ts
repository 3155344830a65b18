// The Features installed as the spec says, one layer each, in a Dockerfile FROM the image the user's Dockerfile
// built: the Feature's files copied in, its options as environment variables (defaults from
// devcontainer-feature.json), _REMOTE_USER/_CONTAINER_USER and their homes, install.sh run as root, then its
// containerEnv as ENV so the Features after it see it. The context is made in memory, so nothing of the project's
// own context (or its .dockerignore) is involved.
import type { FeatureOptionValue, ResolvedFeature } from './resolve';

/** Where the Features' files go in the image, one folder per Feature (as the devcontainer CLI keeps them). */
export const FEATURES_DIR = '/tmp/mlc-features';

/** An option id as an environment variable: the devcontainer CLI's getSafeId. */
export function optionEnvName(id: string): string {
  return id
    .replace(/[^\w_]/g, '_')
    .replace(/^[\d_]+/g, '_')
    .toUpperCase();
}

/** Every option of the Feature with its value: devcontainer.json's, else the default; options without either are left out. */
export function optionEnv(feature: ResolvedFeature): Record<string, string> {
  const env: Record<string, string> = {};
  const ids = new Set([...Object.keys(feature.manifest.options), ...Object.keys(feature.options)]);
  for (const id of ids) {
    const value: FeatureOptionValue | undefined = feature.options[id] ?? feature.manifest.options[id]?.default;
    if (value !== undefined) env[optionEnvName(id)] = String(value);
  }
  return env;
}

export interface FeatureUsers {
  /** remoteUser, else containerUser, else the image's user (root when it sets none). */
  remoteUser: string;
  /** containerUser, else the image's user. */
  containerUser: string;
}

export function featureUsers(
  config: Record<string, unknown>,
  imageUser: string | undefined,
  baseEntries: readonly Record<string, unknown>[] = [],
): FeatureUsers {
  const image = (imageUser ?? '').split(':')[0] || 'root';
  const fromBase = (key: string): string | undefined =>
    [...baseEntries]
      .reverse()
      .map((e) => e[key])
      .find((v): v is string => typeof v === 'string');
  const containerUser = typeof config.containerUser === 'string' ? config.containerUser : (fromBase('containerUser') ?? image);
  const remoteUser = typeof config.remoteUser === 'string' ? config.remoteUser : (fromBase('remoteUser') ?? containerUser);
  return { remoteUser, containerUser };
}

export interface FeatureLayer {
  dockerfile: string;
  /** The build context: the Dockerfile and every Feature's folder, relative paths. */
  files: { path: string; content: string | Buffer; mode?: number }[];
}

/** The shell line-up every Feature's install.sh runs in: its env file sourced, homes looked up, install.sh as root. */
const INSTALL_WRAPPER = `#!/bin/sh
set -e
cd "$(dirname "$0")"
home_of() {
  while IFS=: read -r name _ _ _ _ home _; do
    if [ "$name" = "$1" ]; then echo "$home"; return; fi
  done < /etc/passwd
  if [ "$1" = root ]; then echo /root; fi
}
set -a
. ./devcontainer-features.env
_REMOTE_USER_HOME="$(home_of "$_REMOTE_USER")"
_CONTAINER_USER_HOME="$(home_of "$_CONTAINER_USER")"
set +a
chmod +x ./install.sh
./install.sh
`;

/** The Dockerfile and context that install `features` (already in installation order) on top of `from`. */
export function featureLayer(
  features: readonly ResolvedFeature[],
  o: { from: string; users: FeatureUsers; imageUser: string | undefined },
): FeatureLayer {
  const files: FeatureLayer['files'] = [];
  const lines = [`FROM ${o.from}`, 'USER root'];
  features.forEach((f, i) => {
    const dir = `${i + 1}-${f.manifest.id.replace(/[^A-Za-z0-9._-]/g, '_')}`;
    for (const file of f.files) files.push({ path: `${dir}/${file.path}`, content: file.content, mode: file.mode });
    const env = { ...optionEnv(f), _REMOTE_USER: o.users.remoteUser, _CONTAINER_USER: o.users.containerUser };
    files.push({
      path: `${dir}/devcontainer-features.env`,
      content: Object.entries(env)
        .map(([k, v]) => `${k}=${shellQuote(v)}\n`)
        .join(''),
    });
    files.push({ path: `${dir}/devcontainer-features-install.sh`, content: INSTALL_WRAPPER, mode: 0o755 });
    lines.push(`COPY ${dir}/ ${FEATURES_DIR}/${dir}/`);
    lines.push(`RUN sh ${FEATURES_DIR}/${dir}/devcontainer-features-install.sh`);
    const containerEnv = Object.entries(f.manifest.containerEnv);
    if (containerEnv.length) lines.push(`ENV ${containerEnv.map(([k, v]) => `${k}="${v.replace(/["\\]/g, '\\$&')}"`).join(' ')}`);
  });
  // The image's own user again, so the Features change nothing of who runs in it.
  if (o.imageUser) lines.push(`USER ${o.imageUser}`);
  files.unshift({ path: 'Dockerfile', content: `${lines.join('\n')}\n` });
  return { dockerfile: 'Dockerfile', files };
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
