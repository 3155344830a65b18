import * as path from 'node:path';
import * as vscode from 'vscode';
import { localImageCuda } from '../../core/gpu/imageCuda';
import type { Catalog, Preset, Variant } from '../../core/scaffold/catalog';
import { variantsOf } from '../../core/scaffold/catalog';
import type { LatestTag } from '../../core/scaffold/latestTags';
import { describeLatestTag, latestCatalogBase } from '../../core/scaffold/latestTags';
import { applyPlan, ScaffoldConflictError } from '../../core/scaffold/plan';
import { prepareScaffold } from '../../core/scaffold/prepare';
import type { ResolvedOptions, ScaffoldOptions } from '../../core/scaffold/render';
import { ScaffoldError, describeBase, resolveOptions } from '../../core/scaffold/render';
import { loadTemplates } from '../../core/scaffold/templateFiles';
import type { InputStep, PickStep } from '../multiStep';
import { BACK, showStep } from '../multiStep';
import { pickWorkspaceFolder } from '../workspaceFolder';
import type { Services } from '../services';

/**
 * The QuickPick's answers: mlc init's options, with the chosen preset itself rather than its id, and what the
 * registry said about newer tags of the catalog's base (looked up once the base step is reached).
 */
type Choices = Omit<ScaffoldOptions, 'preset' | 'name' | 'layout' | 'shmSize'> & { preset?: Preset; latest?: LatestTag };

/** The base step's value for "the newer tag found online". */
const NEWER = '\u0000newer';

type Step = (c: Choices) => PickStep<unknown> | InputStep | undefined;

/** "ML Containers: New ML Environment…": the same options as `mlc init`, one QuickPick step each, with Back. */
export async function newEnvironmentCommand(services: Services, arg?: unknown): Promise<void> {
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder to add the ML environment to'), arg);
  if (!folder) {
    return;
  }
  const { catalog } = await loadTemplates(services.templatesDir);
  const choices = await askChoices(catalog, folder.name);
  if (!choices?.preset) {
    return;
  }
  const { latest, ...chosen } = choices;
  const options: ScaffoldOptions = { ...chosen, preset: choices.preset.id };
  const root = folder.uri.fsPath;
  // A base other than the catalog's is described from the image when the engine has it (mlc init does the same).
  const lookup = localImageCuda((ref, signal) => services.engines.get().inspectImage(ref, signal));
  let prepared;
  try {
    prepared = await prepareScaffold(root, services.templatesDir, options, false, lookup);
  } catch (e) {
    if (!(e instanceof ScaffoldConflictError)) {
      throw e;
    }
    const merge = vscode.l10n.t('Merge into It');
    const subfolder = vscode.l10n.t('Write .devcontainer/{0}/', choices.preset.id);
    const answer = await vscode.window.showWarningMessage(
      vscode.l10n.t(
        '{0} Merge the {1} settings into it (your comments and keys are kept), or add a second configuration beside it?',
        e.message,
        choices.preset.label,
      ),
      { modal: true },
      merge,
      subfolder,
    );
    if (!answer) {
      return;
    }
    prepared =
      answer === merge
        ? await prepareScaffold(root, services.templatesDir, options, true, lookup)
        : await prepareScaffold(root, services.templatesDir, { ...options, layout: 'subfolder' }, false, lookup);
  }
  const modified = prepared.plan.filter((p) => p.action === 'modify');
  if (modified.length) {
    const go = vscode.l10n.t('Continue');
    const answer = await vscode.window.showInformationMessage(
      vscode.l10n.t('This changes existing files: {0}.', modified.map((p) => `${p.path} (${p.note})`).join(', ')),
      { modal: true },
      go,
    );
    if (answer !== go) {
      return;
    }
  }
  const written = await applyPlan(root, prepared.plan);
  const log = services.log.child('scaffold');
  if (latest) {
    log.info(describeLatestTag(latest));
  }
  for (const p of prepared.plan) {
    log.info(`${p.action} ${p.path} (${p.note})`);
  }
  const config = prepared.plan.find((p) => p.path.endsWith('devcontainer.json'));
  const open = vscode.l10n.t('Open devcontainer.json');
  const answer = await vscode.window.showInformationMessage(
    vscode.l10n.t('{0}. {1} file(s) written.', describeBase(prepared.options), String(written.length)),
    open,
  );
  if (answer === open && config) {
    await vscode.window.showTextDocument(vscode.Uri.file(path.join(root, ...config.path.split('/'))));
  }
}

async function askChoices(catalog: Catalog, folderName: string): Promise<Choices | undefined> {
  const title = vscode.l10n.t('New ML Environment');
  // What the answers so far amount to, by the same rules as mlc init: one place decides defaults.
  const resolved = (c: Choices): ResolvedOptions | undefined =>
    c.preset ? resolveOptions(catalog, { ...c, preset: c.preset.id }, folderName) : undefined;
  const steps: Step[] = [
    () => ({
      kind: 'pick',
      title,
      placeholder: vscode.l10n.t('Preset'),
      items: catalog.presets.map((p) => ({ label: p.label, description: p.versions[0]?.version, detail: p.description, value: p })),
    }),
    (c) => {
      const variants = c.preset ? variantsOf(c.preset) : [];
      return variants.length < 2
        ? undefined
        : {
            kind: 'pick',
            title,
            placeholder: vscode.l10n.t('GPU or CPU'),
            items: variants.map((v) => ({
              label: v === 'gpu' ? vscode.l10n.t('$(rocket) GPU') : vscode.l10n.t('$(server) CPU'),
              description: c.preset?.versions[0]?.[v]?.image,
              detail:
                v === 'gpu'
                  ? vscode.l10n.t('CUDA base; uses the host GPUs when present, still starts without')
                  : vscode.l10n.t('No CUDA; smaller image'),
              value: v,
            })),
          };
    },
    (c) =>
      c.preset && c.preset.versions.length > 1
        ? {
            kind: 'pick',
            title,
            placeholder: vscode.l10n.t('{0} version', c.preset.label),
            items: c.preset.versions.map((v) => {
              const cuda = resolved({ ...c, version: v.version })?.cuda;
              return { label: v.version, description: cuda ? `CUDA ${cuda}` : '', value: v.version };
            }),
          }
        : undefined,
    (c) => {
      // resolveOptions settles a Python version only for bases that take one (slim Python images).
      const needsPython = resolved(c)?.python !== undefined;
      return needsPython && c.preset
        ? {
            kind: 'pick',
            title,
            placeholder: vscode.l10n.t('Python version'),
            items: c.preset.pythonVersions.map((v) => ({ label: `Python ${v}`, value: v })),
          }
        : undefined;
    },
    () => ({
      kind: 'input',
      title,
      prompt: vscode.l10n.t('Port Jupyter listens on inside the container'),
      value: '8888',
      validate: (v) => (/^\d+$/.test(v) && Number(v) > 0 && Number(v) < 65536 ? undefined : vscode.l10n.t('A port number, 1–65535')),
    }),
    (c) => ({
      kind: 'input',
      title,
      prompt: vscode.l10n.t('Extra pip packages, space-separated (optional), e.g. einops pandas==2.2.3'),
      value: c.extraPip?.join(' ') ?? '',
      validate: (v) => validateWith(catalog, { preset: c.preset?.id ?? '', extraPip: [v] }, folderName),
    }),
    (c) => {
      const catalogBase = resolved(c)?.baseImage;
      const latest = c.latest;
      const newer =
        latest?.kind === 'newer'
          ? [
              {
                label: latest.image,
                description: vscode.l10n.t('newest on {0}', latest.source),
                detail: vscode.l10n.t("Same CUDA as the catalog's {0}", latest.pinned),
                value: NEWER,
              },
            ]
          : [];
      return {
        kind: 'pick',
        title,
        placeholder: vscode.l10n.t('Base image'),
        // The pin first: Enter keeps the tag the catalog was checked with; the newer one is a deliberate pick.
        items: [
          {
            label: catalogBase ?? '',
            description:
              latest?.kind === 'current'
                ? vscode.l10n.t('catalog default, newest on {0}', latest.source)
                : vscode.l10n.t('catalog default (pinned)'),
            ...(latest?.kind === 'pinned' ? { detail: describeLatestTag(latest) } : {}),
            value: '',
          },
          ...newer,
          ...(c.preset?.alternativeBases ?? []).map((a) => ({ label: a.image, description: a.label, value: a.image })),
          { label: vscode.l10n.t('$(edit) Other image…'), value: '?' },
        ],
      };
    },
  ];
  // The choice each step sets, in step order: going back clears it and every later one, since later steps
  // depend on earlier answers (a preset without a GPU variant must not inherit "gpu").
  const keys = ['preset', 'variant', 'version', 'python', 'jupyterPort', 'extraPip', 'baseImage'] as const;
  const assign: ((c: Choices, v: unknown) => void)[] = [
    (c, v) => (c.preset = v as Preset),
    (c, v) => (c.variant = v as Variant),
    (c, v) => (c.version = v as string),
    (c, v) => (c.python = v as string),
    (c, v) => (c.jupyterPort = Number(v)),
    (c, v) => (c.extraPip = String(v).split(/\s+/).filter(Boolean)),
    (c, v) => {
      if (v === NEWER && c.latest?.kind === 'newer') {
        c.newerTag = { image: c.latest.image, version: c.latest.version };
      } else {
        c.baseImage = (v as string) || undefined;
      }
    },
  ];
  const baseStep = keys.indexOf('baseImage');
  const choices: Choices = {};
  const history: number[] = [];
  let i = 0;
  while (i < steps.length) {
    if (i === baseStep && choices.preset && !choices.latest) {
      // Asked once the preset, variant and version are settled; a registry that cannot be reached leaves the pin.
      const c = choices;
      c.latest = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: vscode.l10n.t('Looking for newer base image tags…') },
        () => latestCatalogBase(catalog, { ...c, preset: c.preset!.id }, folderName),
      );
    }
    const step = steps[i]?.(choices);
    if (!step) {
      i++;
      continue;
    }
    let result = await showStep(step, history.length, history.length + 1 + steps.slice(i + 1).filter((s) => s(choices)).length);
    if (result === '?') {
      result = await vscode.window.showInputBox({
        title,
        prompt: vscode.l10n.t('Base image reference, e.g. registry.example.org/ml/pytorch:2.5.1'),
        validateInput: (v) => validateWith(catalog, { preset: choices.preset?.id ?? '', baseImage: v }, folderName),
      });
    }
    if (result === undefined) {
      return undefined;
    }
    if (result === BACK) {
      i = history.pop() ?? 0;
      for (const key of keys.slice(i)) delete choices[key];
      delete choices.newerTag;
      if (i < baseStep) delete choices.latest;
      continue;
    }
    assign[i]?.(choices, result);
    history.push(i);
    i++;
  }
  return choices;
}

function validateWith(catalog: Catalog, options: ScaffoldOptions, folderName: string): string | undefined {
  try {
    resolveOptions(catalog, options, folderName);
    return undefined;
  } catch (e) {
    return e instanceof ScaffoldError ? e.message : undefined;
  }
}
