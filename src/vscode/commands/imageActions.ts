import * as vscode from 'vscode';
import { interactiveRunCommand, shellLine } from '../../core/container/dockerRun';
import { assertEngineSeesWorkspace } from '../../core/container/remote';
import type { ImageNode } from '../../core/images/tree';
import { optionalCatalog } from '../../core/scaffold/templateFiles';
import { readProvenance } from '../../core/labels';
import type { ImageReference } from '../../core/reference';
import { familiarName, tryParseReference } from '../../core/reference';
import { lockFor, lockPath } from '../../core/provenance/lock';
import { gitShowUri } from '../gitShow';
import { withImagePrivilegeConsent } from '../imagePrivileges';
import { runSettings, workspaceRuntime } from '../settings';
import { dockerTerminal, LOGIN_SHELL } from '../terminal';
import { requireTrust } from '../trust';
import type { TreeNode } from '../tree/provider';
import type { Services } from '../services';
import { pickWorkspaceFolder } from '../workspaceFolder';

/** The folder of the row the command was invoked on (else inferred or picked); a dismissed pick cancels. */
async function workspaceFolder(arg: unknown): Promise<string> {
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder of the project'), arg);
  if (!folder) throw new vscode.CancellationError();
  return folder.uri.fsPath;
}

/** The image node a context-menu command was invoked on (menus pass the tree element). */
function imageOf(arg: unknown): ImageNode {
  const node = arg as TreeNode | undefined;
  if (node?.kind === 'image') return node.node;
  if (node?.kind === 'container') return node.image;
  throw new Error(vscode.l10n.t('Run this from an image in the Experiment Images view.'));
}

function shaOf(arg: unknown): string {
  const node = arg as TreeNode | undefined;
  const sha =
    node?.kind === 'commit' ? node.group.sha : node?.kind === 'image' ? node.node.sha : node?.kind === 'head' ? node.sha : undefined;
  if (!sha) throw new Error(vscode.l10n.t('This image records no git commit.'));
  return sha;
}

/** "Open Shell in Container": `docker exec` into a running container of the image, else a throw-away one. */
export async function openShellCommand(services: Services, arg: unknown): Promise<void> {
  requireTrust('run');
  const node = arg as TreeNode | undefined;
  const running =
    node?.kind === 'container'
      ? node.node.state === 'running'
        ? node.node
        : undefined
      : imageOf(arg).containers.find((c) => c.state === 'running');
  if (running) {
    dockerTerminal(services.engines, running.name, ['exec', '-it', running.id, ...LOGIN_SHELL]);
    return;
  }
  const image = imageOf(arg);
  const workspace = await workspaceFolder(arg);
  assertEngineSeesWorkspace(services.engines.get().endpoint, workspace, 'Open Shell');
  const { args, note, env } = await interactiveRun(services, image, workspace, LOGIN_SHELL);
  if (note) services.log.warn(note);
  // Secret variables are on the line by name (-e NAME): the terminal's environment carries their values.
  dockerTerminal(services.engines, image.name, args.slice(1), env);
}

/** `docker run` for the container Start Jupyter would make for this image, less Jupyter. */
async function interactiveRun(
  services: Services,
  image: ImageNode,
  workspace: string,
  command?: string[],
): Promise<{ args: string[]; note: string | undefined; env: Record<string, string> }> {
  const settings = runSettings();
  const engine = services.engines.get();
  const details = await engine.inspectImage(image.image.id);
  if (!details) throw new Error(vscode.l10n.t('{0} is no longer on the engine: refresh the view.', image.name));
  const catalog = await optionalCatalog(services.templatesDir);
  const choice = await services.devcontainers.choose(workspace);
  if (!choice) throw new vscode.CancellationError();
  return withImagePrivilegeConsent(async () =>
    interactiveRunCommand({
      engine,
      image: { ref: image.name, details },
      workspace,
      gpu: settings.gpu,
      shmSizeBytes: settings.shmSizeBytes,
      runtime: await workspaceRuntime(workspace, choice),
      log: services.log.child('gpu'),
      ...(command ? { command } : {}),
      ...(catalog ? { catalog } : {}),
      ...(services.gpuProbe ? { probe: services.gpuProbe } : {}),
    }),
  );
}

/** "Copy docker run Command": the same container as `docker run` flags. */
export async function copyRunCommand(services: Services, arg: unknown): Promise<void> {
  const { args, note } = await interactiveRun(services, imageOf(arg), await workspaceFolder(arg));
  const line = shellLine(args);
  await vscode.env.clipboard.writeText(line);
  void vscode.window.showInformationMessage(note ? vscode.l10n.t('Copied: {0} ({1})', line, note) : vscode.l10n.t('Copied: {0}', line));
}

export async function copyReferenceCommand(_services: Services, arg: unknown): Promise<void> {
  const image = imageOf(arg);
  await vscode.env.clipboard.writeText(image.name);
  void vscode.window.setStatusBarMessage(vscode.l10n.t('Copied {0}', image.name), 3000);
}

/** What `docker tag` takes: a name with an optional tag (latest), no digest. */
function tagTarget(value: string): ImageReference | undefined {
  const ref = tryParseReference(value.trim());
  return ref && !ref.digest ? ref : undefined;
}

export async function tagImageCommand(services: Services, arg: unknown): Promise<void> {
  requireTrust('run');
  const image = imageOf(arg);
  const value = await vscode.window.showInputBox({
    title: vscode.l10n.t('Tag {0}', image.name),
    prompt: vscode.l10n.t('New reference, e.g. dimuon:paper-v1'),
    validateInput: (v) => (tagTarget(v) ? undefined : vscode.l10n.t('Lowercase name[:tag], e.g. dimuon:paper-v1')),
  });
  if (!value) return;
  const ref = tagTarget(value);
  if (!ref) return;
  await services.engines.get().tagImage(image.image.id, familiarName(ref), ref.tag ?? 'latest');
  services.images.refresh();
}

/** Deletes after confirmation; refuses while a container (ours) still uses the image. */
export async function deleteImageCommand(services: Services, arg: unknown): Promise<void> {
  requireTrust('run');
  const image = imageOf(arg);
  if (image.containers.length) {
    throw new Error(
      vscode.l10n.t(
        '{0} is used by {1}: stop and remove it first (Stop Jupyter).',
        image.name,
        image.containers.map((c) => c.name).join(', '),
      ),
    );
  }
  const tags = [image.name, ...image.otherTags];
  const remove = vscode.l10n.t('Delete');
  const answer = await vscode.window.showWarningMessage(
    vscode.l10n.t('Delete {0}?', tags.join(', ')),
    { modal: true, detail: vscode.l10n.t('Its environment lock stays in .mlcontainers/locks/.') },
    remove,
  );
  if (answer !== remove) return;
  // force: an image with several tags cannot be removed by id otherwise; the engine still refuses while any container runs it.
  await services.engines.get().removeImage(image.image.id, { force: true });
  services.images.refresh();
}

/** "Rebuild": builds HEAD again; for another commit, says to check it out first. */
export async function rebuildCommand(_services: Services, arg: unknown): Promise<void> {
  const node = arg as TreeNode | undefined;
  const isHead = node?.kind === 'image' ? node.group.isHead : node?.kind === 'commit' ? node.group.isHead : true;
  if (!isHead) {
    const checkout = vscode.l10n.t('Check Out this Commit');
    const answer = await vscode.window.showInformationMessage(
      vscode.l10n.t('Builds use the working tree: check out {0} first, then rebuild.', shaOf(arg).slice(0, 7)),
      checkout,
    );
    if (answer === checkout) await vscode.commands.executeCommand('mlContainers.images.checkout', arg);
    return;
  }
  await vscode.commands.executeCommand('mlContainers.images.build', arg);
}

/** "Check Out this Commit": detached; asks first when the working tree has changes. */
export async function checkoutCommand(services: Services, arg: unknown): Promise<void> {
  requireTrust('run');
  const sha = shaOf(arg);
  const folder = await workspaceFolder(arg);
  const info = await services.git.info(folder);
  if (info?.dirty) {
    const go = vscode.l10n.t('Check Out Anyway');
    const answer = await vscode.window.showWarningMessage(
      vscode.l10n.t('The working tree has uncommitted changes.'),
      {
        modal: true,
        detail: vscode.l10n.t('git keeps changes that do not conflict and refuses otherwise; commit or stash first to be safe.'),
      },
      go,
    );
    if (answer !== go) return;
  }
  await services.git.checkout(folder, sha);
  services.images.scheduleRefresh(folder);
  void vscode.window.showInformationMessage(vscode.l10n.t('Checked out {0} (detached HEAD).', sha.slice(0, 7)));
}

/** "Show Dockerfile at this Commit": `git show <sha>:<path>` in a read-only editor. */
export async function showDockerfileCommand(_services: Services, arg: unknown): Promise<void> {
  const sha = shaOf(arg);
  const node = arg as TreeNode | undefined;
  const labels =
    node?.kind === 'image' ? node.node.image.labels : node?.kind === 'commit' ? (node.group.images[0]?.image.labels ?? {}) : {};
  const file = readProvenance(labels).dockerfilePath ?? '.devcontainer/Dockerfile';
  const document = await vscode.workspace.openTextDocument(gitShowUri(await workspaceFolder(arg), sha, file));
  await vscode.languages.setTextDocumentLanguage(document, 'dockerfile');
  await vscode.window.showTextDocument(document, { preview: true });
}

/** "Compare Environments with…": this image's lock against another image's, in a diff editor. */
export async function compareWithCommand(services: Services, arg: unknown): Promise<void> {
  const image = imageOf(arg);
  const folder = await workspaceFolder(arg);
  const state = await services.images.getState(folder);
  const others = state.kind === 'ready' ? state.tree.groups.flatMap((g) => g.images).filter((n) => n.image.id !== image.image.id) : [];
  if (!others.length) {
    void vscode.window.showInformationMessage(vscode.l10n.t('Build another experiment image to compare with.'));
    return;
  }
  const pick = await vscode.window.showQuickPick(
    others.map((n) => ({ label: n.name, description: n.sha?.slice(0, 7) ?? '', node: n })),
    { title: vscode.l10n.t('Compare {0} with…', image.name) },
  );
  if (!pick) return;
  const engine = services.engines.get();
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Reading package lists…') }, () =>
    Promise.all([lockFor(engine, folder, image.image.id), lockFor(engine, folder, pick.node.image.id)]),
  );
  await vscode.commands.executeCommand(
    'vscode.diff',
    vscode.Uri.file(lockPath(folder, pick.node.image.id)),
    vscode.Uri.file(lockPath(folder, image.image.id)),
    `${pick.node.name} ↔ ${image.name}`,
  );
}
