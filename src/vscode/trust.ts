import * as vscode from 'vscode';

/** Refusal in Restricted Mode: the command wrapper offers "Manage Workspace Trust" with it. */
export class RestrictedModeError extends Error {}

/**
 * Throws unless the workspace is trusted. A folder's Dockerfile, devcontainer.json and settings could run code on this
 * machine, so nothing is built or run from an untrusted one.
 */
export function requireTrust(doing: 'build' | 'run' | 'read'): void {
  if (vscode.workspace.isTrusted) return;
  throw new RestrictedModeError(
    doing === 'build'
      ? vscode.l10n.t(
          "ML Containers builds nothing in Restricted Mode: this folder's Dockerfile could run code on your machine. Trust the folder to build.",
        )
      : doing === 'read'
        ? vscode.l10n.t(
            'ML Containers reads no run records or run folders in Restricted Mode: they are written by code from this folder. Trust the folder to see its runs.',
          )
        : vscode.l10n.t(
            "ML Containers runs nothing in Restricted Mode: this folder's images and settings could run code on your machine. Trust the folder to run.",
          ),
  );
}
