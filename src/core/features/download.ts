// Features from the network, as the spec distributes them: an OCI artifact (manifest → the one layer of media type
// application/vnd.devcontainers.layer.v1+tar, anonymous pull token as for images) or an https tarball. The registry
// HTTP helpers are scaffold/latestTags.ts's, which talk to the same Registry API v2.
import { createHash } from 'node:crypto';
import { isRecord } from '../json';
import { parseReference } from '../reference';
import { anonymousToken, registryApiBase } from '../scaffold/latestTags';
import type { FeatureDownloader } from './resolve';
import { FeatureError } from './resolve';

export const FEATURE_LAYER_MEDIA_TYPE = 'application/vnd.devcontainers.layer.v1+tar';
const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json';
const MAX_BYTES = 100 * 1024 ** 2;

export interface DownloaderOptions {
  fetch?: typeof fetch;
  env?: NodeJS.ProcessEnv;
}

/** The downloader builds use: Node's fetch, the registry's anonymous token, the layer's digest checked. */
export function httpFeatureDownloader(options: DownloaderOptions = {}): FeatureDownloader {
  const fetchFn = options.fetch ?? fetch;
  return {
    async oci(reference, signal) {
      const ref = parseReference(reference);
      const { url: base } = registryApiBase(ref.registry, options.env);
      let token: string | undefined;
      const get = async (url: string, accept?: string): Promise<Response> => {
        const headers = (): Record<string, string> => ({
          ...(accept ? { Accept: accept } : {}),
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        });
        let response = await fetchFn(url, { headers: headers(), ...(signal ? { signal } : {}) });
        if (response.status === 401 && !token) {
          token = await anonymousToken(response.headers.get('www-authenticate') ?? '', ref.path, fetchFn, signal);
          response = await fetchFn(url, { headers: headers(), ...(signal ? { signal } : {}) });
        }
        if (response.status === 404)
          throw new FeatureError(`The Feature "${reference}" is not on ${new URL(base).host}: check its name and version.`);
        if (!response.ok) throw new Error(`${new URL(base).host} answered HTTP ${response.status}`);
        return response;
      };
      const manifest: unknown = await (
        await get(`${base}/v2/${ref.path}/manifests/${ref.digest ?? ref.tag ?? 'latest'}`, MANIFEST_ACCEPT)
      ).json();
      const layers = isRecord(manifest) && Array.isArray(manifest.layers) ? manifest.layers.filter(isRecord) : [];
      const layer = layers.find((l) => l.mediaType === FEATURE_LAYER_MEDIA_TYPE) ?? (layers.length === 1 ? layers[0] : undefined);
      const digest = layer?.digest;
      if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
        throw new FeatureError(`"${reference}" is not a Feature (its manifest has no ${FEATURE_LAYER_MEDIA_TYPE} layer): check the name.`);
      }
      const blob = await body(await get(`${base}/v2/${ref.path}/blobs/${digest}`), reference);
      if (`sha256:${createHash('sha256').update(blob).digest('hex')}` !== digest)
        throw new FeatureError(`The Feature "${reference}" arrived damaged (its digest does not match): build again.`);
      return blob;
    },
    async tarball(url, signal) {
      const response = await fetchFn(url, signal ? { signal } : {});
      if (!response.ok) throw new Error(`${new URL(url).host} answered HTTP ${response.status}`);
      return body(response, url);
    },
  };
}

async function body(response: Response, what: string): Promise<Buffer> {
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_BYTES)
    throw new FeatureError(`The Feature "${what}" is ${length} bytes, more than a Feature should be: check the name.`);
  const data = Buffer.from(await response.arrayBuffer());
  if (data.length > MAX_BYTES)
    throw new FeatureError(`The Feature "${what}" is more than ${MAX_BYTES} bytes, more than a Feature should be: check the name.`);
  return data;
}
