import { randomBytes } from 'node:crypto';

/** Secrets this process handed out (Jupyter tokens); every log line is scrubbed of them. */
const known = new Set<string>();

/** A fresh Jupyter token: 24 crypto-random bytes as 48 hex characters. */
export function newToken(): string {
  const token = randomBytes(24).toString('hex');
  rememberSecret(token);
  return token;
}

export function rememberSecret(secret: string): void {
  if (secret.length >= 8) known.add(secret);
}

/**
 * Replaces known secrets and anything that looks like a token in a URL or header (`token=…`, `Authorization: token …`)
 * with `***`. For text that leaves the process: logs, the output channel, error messages, container logs we show.
 */
export function maskSecrets(text: string, extra: readonly string[] = []): string {
  let out = text;
  for (const secret of [...known, ...extra]) {
    if (secret) out = out.split(secret).join('***');
  }
  return out.replace(/([?&]token=)[^&\s"'#]+/gi, '$1***').replace(/(authorization:\s*token\s+)\S+/gi, '$1***');
}
