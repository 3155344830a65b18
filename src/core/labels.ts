/** Our label namespace on images and containers; OCI keys (org.opencontainers.image.*) sit beside it. */
export const LABEL_PREFIX = 'org.mlcontainers';

/** Set on every image and container ML Containers creates, so one filtered list call finds them all. */
export const MANAGED_LABEL = `${LABEL_PREFIX}.managed`;

/** The git commit an image was built from (OCI). */
export const REVISION_LABEL = 'org.opencontainers.image.revision';

/** "true" when the image was built from uncommitted changes. */
export const DIRTY_LABEL = `${LABEL_PREFIX}.dirty`;
