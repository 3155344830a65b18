import Mustache from 'mustache';
import type { Catalog, Preset, Variant } from './catalog';
import { findPreset, variantsOf } from './catalog';
import { UserError } from '../errors';

/** What the user chose (QuickPick steps or `mlc init` flags); everything but the preset has a default. */
export interface ScaffoldOptions {
  preset: string;
  variant?: Variant;
  version?: string;
  python?: string;
  jupyterPort?: number;
  extraPip?: string[];
  baseImage?: string;
  /**
   * A newer tag of the catalog's base in the same pattern (same CUDA and flavour), found online by latestTags.ts: it
   * replaces the catalog's pin and version, and keeps the catalog's CUDA.
   */
  newerTag?: { image: string; version: string };
  /** devcontainer.json `name`; defaults to the folder name. */
  name?: string;
  /** `default`: .devcontainer/; `subfolder`: .devcontainer/<preset>/ (the spec allows several configs). */
  layout?: 'default' | 'subfolder';
  shmSize?: string;
}

export interface ResolvedOptions {
  preset: Preset;
  variant: Variant;
  version: string;
  python: string | undefined;
  jupyterPort: number;
  extraPip: string[];
  baseImage: string;
  /**
   * The catalog's base for this preset, version and variant (or its newer tag, see `pinnedBaseImage`); `baseImage`
   * differs when the user chose another.
   */
  catalogBaseImage: string;
  /** The catalog's own pin when a newer tag of it replaced it (ScaffoldOptions.newerTag). */
  pinnedBaseImage?: string;
  /**
   * The CUDA the base needs from the host driver: the catalog's for the catalog's base; for another base, what the
   * image itself says when the engine has it (prepareScaffold asks), else undefined: unknown until a GPU run.
   */
  cuda: string | undefined;
  /** Where `cuda` comes from: `catalog`, or the image's environment variable that names it. */
  cudaSource: 'catalog' | 'CUDA_VERSION' | 'NVIDIA_REQUIRE_CUDA' | undefined;
  frameworkPip: string;
  frameworkIndexUrl: string;
  name: string;
  layout: 'default' | 'subfolder';
  shmSize: string;
  user: string;
}

/** The template texts from templates/, loaded by the caller so rendering stays pure. */
export interface Templates {
  devcontainer: string;
  dockerfile: string;
  requirements: string;
  dockerignore: string;
  /** Per preset id. */
  experiment: Record<string, string>;
  /** Per preset id: the predict.py `mlc serve` and `mlc predict` import (load(model_dir), predict(model, inputs)). */
  predict: Record<string, string>;
}

export type FileKind =
  | { kind: 'devcontainer' }
  | { kind: 'dockerfile' }
  /** Written only when absent; an existing file is the user's and stays as it is. */
  | { kind: 'createOnly' }
  /** Missing lines are appended under a marker; the file is never replaced. */
  | { kind: 'appendLines'; lines: string[] };

export type RenderedFile = { path: string; content: string } & FileKind;

export class ScaffoldError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'ScaffoldError';
  }
}

// docker/distribution's reference grammar, simplified: [registry[:port]/]path[:tag][@digest].
const IMAGE_REF =
  /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const PIP_REQUIREMENT =
  /^[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9._,-]+\])?(?:(?:==|>=|<=|~=|!=|>|<)[A-Za-z0-9.*+!_-]+(?:,(?:==|>=|<=|~=|!=|>|<)[A-Za-z0-9.*+!_-]+)*)?$/;

export function resolveOptions(catalog: Catalog, options: ScaffoldOptions, folderName: string): ResolvedOptions {
  const preset = findPreset(catalog, options.preset);
  const variants = variantsOf(preset);
  const variant = options.variant ?? variants[0] ?? 'cpu';
  const entry = options.version ? preset.versions.find((v) => v.version === options.version) : preset.versions[0];
  if (!entry) {
    throw new ScaffoldError(
      `${preset.label} ${options.version} is not in the catalog; choose one of: ${preset.versions.map((v) => v.version).join(', ')}.`,
    );
  }
  const base = entry[variant];
  if (!base) {
    throw new ScaffoldError(`${preset.label} has no ${variant.toUpperCase()} variant; choose ${variants.join(' or ')}.`);
  }
  const needsPython = base.image.includes('{python}');
  const python = needsPython ? (options.python ?? preset.pythonVersions[0] ?? '3.11') : undefined;
  if (options.python && !needsPython) {
    throw new ScaffoldError(
      `${preset.label} (${variant}) uses the Python of its base image ${base.image}; drop --python or choose the CPU variant.`,
    );
  }
  if (python !== undefined && !/^3\.\d{1,2}$/.test(python)) {
    throw new ScaffoldError(`Python version "${python}" is not of the form 3.X (e.g. 3.11).`);
  }
  const pinned = base.image.replace('{python}', python ?? '');
  const catalogBaseImage = options.newerTag?.image ?? pinned;
  const baseImage = options.baseImage?.trim() || catalogBaseImage;
  if (!IMAGE_REF.test(baseImage)) {
    throw new ScaffoldError(`"${baseImage}" is not a valid image reference; use e.g. pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime.`);
  }
  const jupyterPort = options.jupyterPort ?? 8888;
  if (!Number.isInteger(jupyterPort) || jupyterPort < 1 || jupyterPort > 65535) {
    throw new ScaffoldError(`Jupyter port ${options.jupyterPort} is not a port number (1–65535).`);
  }
  const extraPip = (options.extraPip ?? []).flatMap((p) => p.split(/[\s,]+/)).filter(Boolean);
  const bad = extraPip.find((p) => !PIP_REQUIREMENT.test(p));
  if (bad) {
    throw new ScaffoldError(`"${bad}" is not a pip requirement; use names with optional pins, e.g. pandas==2.2.3 or einops.`);
  }
  const shmSize = options.shmSize ?? '8g';
  if (!/^\d+[bkmg]?$/i.test(shmSize)) {
    throw new ScaffoldError(`Shared-memory size "${shmSize}" is not a size such as 8g or 512m.`);
  }
  return {
    preset,
    variant,
    version: options.newerTag?.version ?? entry.version,
    ...(options.newerTag ? { pinnedBaseImage: pinned } : {}),
    python,
    jupyterPort,
    extraPip,
    baseImage,
    catalogBaseImage,
    // Another base may need another CUDA: the catalog's would be a guess (prepareScaffold asks the image).
    ...(baseImage === catalogBaseImage && base.cuda
      ? { cuda: base.cuda, cudaSource: 'catalog' as const }
      : { cuda: undefined, cudaSource: undefined }),
    frameworkPip: base.pip ?? '',
    frameworkIndexUrl: base.indexUrl ?? '',
    name: options.name?.trim() || `${folderName} (${preset.label})`,
    layout: options.layout ?? 'default',
    shmSize,
    user: preset.user ?? 'mlc',
  };
}

/** Renders every file of a scaffold. Pure: templates and options in, paths (relative to the project) and texts out. */
export function renderScaffold(templates: Templates, o: ResolvedOptions): RenderedFile[] {
  const dir = o.layout === 'subfolder' ? `.devcontainer/${o.preset.id}` : '.devcontainer';
  const view = {
    label: o.preset.label,
    preset: o.preset.id,
    variant: o.variant,
    gpu: o.variant === 'gpu',
    baseComment: baseComment(o),
    name: o.name,
    baseImage: o.baseImage,
    frameworkPip: o.frameworkPip,
    frameworkIndexUrl: o.frameworkIndexUrl,
    extraPip: o.extraPip.join(' '),
    jupyterPort: o.jupyterPort,
    shmSize: o.shmSize,
    user: o.user,
    module: o.preset.module,
    setupScript: o.preset.setupScript,
    context: o.layout === 'subfolder' ? '../..' : '..',
    postCreateCommand: `python3 -c "import ${o.preset.module} as m; print('${o.preset.module}', getattr(m, '__version__', ''))" || echo "ML Containers: ${o.preset.module} does not import in this image"`,
  };
  const experiment = templates.experiment[o.preset.id];
  if (experiment === undefined) {
    throw new ScaffoldError(`templates/${o.preset.id}/experiment.yaml is missing from this installation.`);
  }
  const predict = templates.predict[o.preset.id];
  if (predict === undefined) {
    throw new ScaffoldError(`templates/${o.preset.id}/predict.py is missing from this installation.`);
  }
  return [
    // JSON strings get JSON escaping; the Dockerfile's values were validated above and go in verbatim.
    {
      path: `${dir}/devcontainer.json`,
      kind: 'devcontainer',
      content: render(templates.devcontainer, view, (s) => JSON.stringify(s).slice(1, -1)),
    },
    { path: `${dir}/Dockerfile`, kind: 'dockerfile', content: render(templates.dockerfile, view, (s) => s) },
    { path: 'requirements.txt', kind: 'createOnly', content: templates.requirements },
    { path: 'configs/experiment.yaml', kind: 'createOnly', content: experiment },
    // At the project root, where `mlc model save` takes it from; a predict.py already there is the user's.
    { path: 'predict.py', kind: 'createOnly', content: predict },
    {
      path: '.dockerignore',
      kind: 'appendLines',
      lines: templates.dockerignore
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
      content: templates.dockerignore,
    },
  ];
}

const CUDA_UNKNOWN = 'CUDA: unknown — checked at first GPU run';

/**
 * One line on what the scaffold builds on, for `mlc init` and New ML Environment: the catalog's framework version
 * and CUDA for the catalog's base; for another base, only what the image itself says (it decides both).
 */
export function describeBase(o: ResolvedOptions): string {
  if (o.baseImage === o.catalogBaseImage) {
    return `${o.preset.label} ${o.version} (${o.variant}) on ${o.baseImage}${o.cuda ? `, CUDA ${o.cuda}` : ''}`;
  }
  const framework = o.frameworkPip ? `the image's own, else pip install ${o.frameworkPip}` : "the image's own";
  return `${o.preset.label} (${o.variant}) on ${o.baseImage} instead of the catalog's ${o.catalogBaseImage}; framework: ${framework}${cudaNote(o, '; ')}`;
}

/** The CUDA of a base the user chose, with where it was read; the unknown wording only where a GPU is wanted. */
function cudaNote(o: ResolvedOptions, separator: string): string {
  if (o.cuda) return `${separator}needs CUDA ${o.cuda} on the host driver (the image's ${o.cudaSource})`;
  return o.variant === 'gpu' ? `${separator}${CUDA_UNKNOWN}` : '';
}

/** devcontainer.json's comment above BASE_IMAGE. */
function baseComment(o: ResolvedOptions): string {
  if (o.baseImage === o.catalogBaseImage) {
    const needs = o.cuda ? ` (needs CUDA ${o.cuda} on the host driver)` : '';
    return o.pinnedBaseImage
      ? `Override to try another base; the newest tag like the catalog's ${o.pinnedBaseImage} when this was written${needs}.`
      : `Override to try another base; the catalog pins the tag${needs}.`;
  }
  return `Chosen instead of the catalog's ${o.catalogBaseImage}${cudaNote(o, '; ')}.`;
}

function render(template: string, view: object, escape: (value: string) => string): string {
  return Mustache.render(template, view, {}, { escape: (v: unknown) => escape(String(v)) });
}
