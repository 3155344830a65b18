import * as vscode from 'vscode';
import { imagePrivilegesFile, rememberImagePrivileges } from '../core/container/imageConsent';
import { ImagePrivilegesError } from '../core/container/imagePrivileges';
import { shortImageId } from '../core/reference';

/**
 * Runs `start` (a run's plan, a Jupyter start, a shell's `docker run`); where the image's devcontainer.metadata asks
 * for privileges no Feature of the project asked for, a modal names them, and "Allow for this image" remembers the
 * consent in the host-side list core reads (the file `mlc --allow-image-privileges` writes, so the background
 * scheduler and a backend's submission find it too) and runs `start` again. Dismissed: cancelled, nothing started.
 */
export async function withImagePrivilegeConsent<T>(start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (e) {
    if (!(e instanceof ImagePrivilegesError)) throw e;
    const file = imagePrivilegesFile(process.env);
    // Nowhere to remember it: the sentence itself, as the CLI says it.
    if (!file) throw e;
    const allow = vscode.l10n.t('Allow for this image');
    const choice = await vscode.window.showWarningMessage(
      vscode.l10n.t('The image {0} asks for {1} through its devcontainer.metadata label.', e.imageName, e.asked),
      {
        modal: true,
        detail: vscode.l10n.t(
          "No Feature in this project's devcontainer.json asks for this; the image (or its base) does. Allowing gives every run, Jupyter server and shell of this image ({0}) these privileges on this machine, and is remembered in {1}. Otherwise, rebuild from a base you trust.",
          shortImageId(e.imageId),
          file,
        ),
      },
      allow,
    );
    if (choice !== allow) throw new vscode.CancellationError();
    await rememberImagePrivileges(file, e.imageId, e.asked);
    return start();
  }
}
