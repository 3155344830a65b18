// Which images a Dockerfile pulls, so a build can answer the registry's credential request for them.
import { registryHost } from '../docker/registryAuth';

/**
 * The image references a build pulls: every FROM that is not an earlier stage or `scratch`, `--from=` of COPY and
 * RUN --mount when it names an image, and a `# syntax=` frontend. `$VAR` / `${VAR}` / `${VAR:-default}` are
 * substituted from the build args, then from ARG defaults declared before them.
 */
export function pulledImages(dockerfile: string, buildArgs: Readonly<Record<string, string>>): string[] {
  const args: Record<string, string> = {};
  const stages = new Set<string>();
  const images: string[] = [];
  const add = (ref: string): void => {
    const clean = ref.trim();
    if (clean && clean !== 'scratch' && !stages.has(clean.toLowerCase()) && !/^\d+$/.test(clean) && !images.includes(clean))
      images.push(clean);
  };
  const expand = (text: string): string =>
    text.replace(
      /\$\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|\$([A-Za-z_]\w*)/g,
      (_m, braced: string | undefined, fallback: string | undefined, bare: string | undefined) => {
        const name = braced ?? bare ?? '';
        return buildArgs[name] ?? args[name] ?? fallback ?? '';
      },
    );

  const syntax = /^#\s*syntax\s*=\s*(\S+)/im.exec(
    dockerfile
      .split(/\r?\n/)
      .filter((l) => l.startsWith('#'))
      .join('\n'),
  );
  if (syntax?.[1]) add(syntax[1]);
  // Continuation lines joined, comments dropped: one instruction per entry.
  const instructions = dockerfile
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const line of instructions) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const upper = keyword.toUpperCase();
    if (upper === 'ARG') {
      for (const decl of rest) {
        const eq = decl.indexOf('=');
        const name = eq < 0 ? decl : decl.slice(0, eq);
        if (eq >= 0 && !(name in args)) args[name] = expand(decl.slice(eq + 1).replace(/^["']|["']$/g, ''));
      }
    } else if (upper === 'FROM') {
      const words = rest.filter((w) => !w.startsWith('--'));
      if (words[0]) add(expand(words[0]));
      const as = words.findIndex((w) => w.toLowerCase() === 'as');
      if (as >= 0 && words[as + 1]) stages.add(words[as + 1]!.toLowerCase());
    } else if (upper === 'COPY' || upper === 'RUN' || upper === 'ADD') {
      for (const m of line.matchAll(/--(?:mount=\S*?\bfrom=|from=)([^\s,]+)/g)) add(expand(m[1] ?? ''));
    }
  }
  return images;
}

/**
 * The one registry a build may be given credentials for. The engine's BuildKit session (dockerode's) answers every
 * registry's credential request with the same username and password, so credentials are passed only when every
 * pulled image comes from one registry; otherwise they could reach another registry.
 */
export function credentialHost(images: readonly string[]): { host: string } | { hosts: string[] } | undefined {
  const hosts = [...new Set(images.map(registryHost))];
  if (!hosts.length) return undefined;
  return hosts.length === 1 ? { host: hosts[0]! } : { hosts };
}
