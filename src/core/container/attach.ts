/**
 * The remote authority the Dev Containers extension resolves for an already running container:
 * `attached-container+<hex of {"containerName":"/name"}>` (Docker reports names with a leading slash). It is what
 * "Attach to Running Container…" opens, and what `code --folder-uri` accepts.
 */
export function attachedContainerAuthority(containerName: string): string {
  const name = containerName.startsWith('/') ? containerName : `/${containerName}`;
  return `attached-container+${Buffer.from(JSON.stringify({ containerName: name }), 'utf8').toString('hex')}`;
}

/** `vscode-remote://attached-container+…/<folder>`: a folder inside a running container, for vscode.openFolder. */
export function attachedContainerFolderUri(containerName: string, folderInContainer: string): string {
  const folder = folderInContainer.startsWith('/') ? folderInContainer : `/${folderInContainer}`;
  return `vscode-remote://${attachedContainerAuthority(containerName)}${folder}`;
}

/** VS Code's remote names for a window whose extension host runs inside a container. */
export function isContainerRemote(remoteName: string | undefined): boolean {
  return remoteName === 'dev-container' || remoteName === 'attached-container';
}
