/** Our label namespace on images and containers; OCI keys (org.opencontainers.image.*) sit beside it. */
export const LABEL_PREFIX = 'org.mlcontainers';

/** Set on every image and container ML Containers creates, so one filtered list call finds them all. */
export const MANAGED_LABEL = `${LABEL_PREFIX}.managed`;
