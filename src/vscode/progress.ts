import * as vscode from 'vscode';

/**
 * Long work in a cancellable notification: the Cancel button aborts the signal handed to `work`, which the core and
 * dockerode take; the token's listener is disposed when the work settles.
 */
export async function withCancellableProgress<T>(
  title: string,
  work: (signal: AbortSignal, progress: vscode.Progress<{ message?: string; increment?: number }>) => Promise<T>,
): Promise<T> {
  return await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, token) => {
      const abort = toAbortSignal(token);
      try {
        return await work(abort.signal, progress);
      } finally {
        abort.dispose();
      }
    },
  );
}

/** Bridges a VS Code CancellationToken to the AbortSignal the core and dockerode take. */
function toAbortSignal(token: vscode.CancellationToken): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  if (token.isCancellationRequested) {
    controller.abort();
  }
  const listener = token.onCancellationRequested(() => controller.abort());
  return { signal: controller.signal, dispose: () => listener.dispose() };
}
