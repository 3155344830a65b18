import type { ImageDetails } from '../../src/core/docker/engine';

/** An image as Engine.inspectImage returns it (dimuon:latest, no labels); a test gives the fields it is about. */
export function imageDetails(over: Partial<ImageDetails> = {}): ImageDetails {
  return {
    id: 'sha256:27f51f9ea9f76acc482806093ca1b6beaf2e6178b657abe96a23a068ebe00b54',
    repoTags: ['dimuon:latest'],
    repoDigests: [],
    labels: {},
    env: [],
    created: '2026-11-23T00:00:00Z',
    size: 1,
    ...over,
  };
}
