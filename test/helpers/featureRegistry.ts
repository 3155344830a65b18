// A registry on 127.0.0.1 serving one Dev Container Feature as ghcr.io does (core/features/download.ts): a real HTTP
// server, not a fake of our code. Manifests and blobs answer 401 with a Bearer challenge until a token from /token
// (for the right scope) comes along.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FeatureRegistry {
  host: string;
  requests: string[];
  close(): Promise<void>;
}

/** Serves `layer` as devcontainers/features/<name>:<tag>; `damage` sends other bytes than the manifest's digest names. */
export async function featureRegistry(
  name: string,
  tag: string,
  layer: Buffer,
  options: { damage?: boolean; mediaType?: string } = {},
): Promise<FeatureRegistry> {
  const requests: string[] = [];
  const repository = `devcontainers/features/${name}`;
  const digest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.devcontainers', digest: `sha256:${'0'.repeat(64)}`, size: 0 },
    layers: [{ mediaType: options.mediaType ?? 'application/vnd.devcontainers.layer.v1+tar', digest, size: layer.length }],
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}`);
    if (url.pathname === '/token') {
      const ok = url.searchParams.get('scope') === `repository:${repository}:pull`;
      res.writeHead(ok ? 200 : 403, { 'Content-Type': 'application/json' }).end(JSON.stringify(ok ? { token: 'anon' } : {}));
      return;
    }
    if (req.headers.authorization !== 'Bearer anon') {
      res
        .writeHead(401, {
          'WWW-Authenticate': `Bearer realm="http://${req.headers.host}/token",service="fake",scope="repository:${repository}:pull"`,
        })
        .end();
      return;
    }
    if (
      url.pathname === `/v2/${repository}/manifests/${tag}` &&
      String(req.headers.accept).includes('application/vnd.oci.image.manifest.v1+json')
    ) {
      res.writeHead(200, { 'Content-Type': manifest.mediaType }).end(JSON.stringify(manifest));
    } else if (url.pathname === `/v2/${repository}/blobs/${digest}`) {
      res
        .writeHead(200, { 'Content-Type': 'application/octet-stream' })
        .end(options.damage ? Buffer.concat([layer, Buffer.from('x')]) : layer);
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN' }] }));
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
