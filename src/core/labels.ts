/** Our label namespace on images and containers; OCI keys (org.opencontainers.image.*) sit beside it. */
export const LABEL_PREFIX = 'org.mlcontainers';

/** Set on every image and container ML Containers creates, so one filtered list call finds them all. */
export const MANAGED_LABEL = `${LABEL_PREFIX}.managed`;

/** The git commit an image was built from (OCI). */
export const REVISION_LABEL = 'org.opencontainers.image.revision';

/** "true" when the image was built from uncommitted changes. */
export const DIRTY_LABEL = `${LABEL_PREFIX}.dirty`;

/** On containers: what they are for ("jupyter", "run"), the workspace folder, and the image they run. */
export const ROLE_LABEL = `${LABEL_PREFIX}.role`;
export const WORKSPACE_LABEL = `${LABEL_PREFIX}.workspace`;
export const IMAGE_ID_LABEL = `${LABEL_PREFIX}.image.id`;
export const IMAGE_REF_LABEL = `${LABEL_PREFIX}.image.ref`;
/** The GPUs a container was given: "none", "all" or device ids ("0,1"). */
export const GPU_LABEL = `${LABEL_PREFIX}.gpu`;
