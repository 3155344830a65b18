// Where the project is in every container, and how it is mounted there.

/** Where the workspace folder is mounted in experiment containers. */
export const WORKSPACE_IN_CONTAINER = '/workspace';
/** The tool's own state in the project (run records, plans, every run's folder): read-only in every container. */
export const STATE_DIR = '.mlcontainers';

/**
 * The project read-write at /workspace, and its .mlcontainers read-only on top: what a container runs is untrusted
 * code, and the host reads records and plans from there. A run gets its own folder writable again (its binds).
 */
export function workspaceBinds(workspace: string): string[] {
  return [`${workspace}:${WORKSPACE_IN_CONTAINER}`, `${workspace}/${STATE_DIR}:${WORKSPACE_IN_CONTAINER}/${STATE_DIR}:ro`];
}
