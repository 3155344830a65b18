// A registry API on 127.0.0.1 for the tag lookups (core/scaffold/latestTags.ts): a real HTTP server with Docker Hub's
// manners, not a fake of our code. The Docker tier uses Debian's docker-registry instead (test/docker/registry.ts).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRegistry {
  host: string;
  requests: string[];
  close(): Promise<void>;
}

/**
 * A registry on 127.0.0.1 as Docker Hub behaves: /v2/<name>/tags/list answers 401 with a Bearer challenge until a
 * token from /token (for the right service and scope) comes along, and lists the tags in two pages.
 */
export async function fakeRegistry(
  tags: string[],
  options: { challenge?: 'bearer' | 'basic' | 'none'; silent?: boolean } = {},
): Promise<FakeRegistry> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.search} ${req.headers.authorization ?? ''}`.trim());
    if (options.silent) return; // never answers
    const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/token') {
      const ok = url.searchParams.get('service') === 'fake-registry' && url.searchParams.get('scope') === 'repository:pytorch/pytorch:pull';
      json(ok ? 200 : 403, ok ? { token: 'anon-token' } : {});
      return;
    }
    if (url.pathname !== '/v2/pytorch/pytorch/tags/list') {
      json(404, { errors: [{ code: 'NAME_UNKNOWN' }] });
      return;
    }
    const challenge = options.challenge ?? 'bearer';
    if (challenge !== 'none' && req.headers.authorization !== 'Bearer anon-token') {
      const header =
        challenge === 'bearer'
          ? `Bearer realm="http://${req.headers.host}/token",service="fake-registry",scope="repository:pytorch/pytorch:pull"`
          : 'Basic realm="fake-registry"';
      json(401, { errors: [{ code: 'UNAUTHORIZED' }] }, { 'WWW-Authenticate': header });
      return;
    }
    const half = Math.ceil(tags.length / 2);
    if (url.searchParams.get('last')) {
      json(200, { name: 'pytorch/pytorch', tags: tags.slice(half) });
    } else {
      json(
        200,
        { name: 'pytorch/pytorch', tags: tags.slice(0, half) },
        { Link: `</v2/pytorch/pytorch/tags/list?last=${encodeURIComponent(tags[half - 1] ?? '')}&n=${half}>; rel="next"` },
      );
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
