import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { localImageCuda } from '../core/gpu/imageCuda';
import { REGISTRY_MIRROR_ENV, describeLatestTag, latestCatalogBase } from '../core/scaffold/latestTags';
import { applyPlan } from '../core/scaffold/plan';
import { prepareScaffold } from '../core/scaffold/prepare';
import type { ScaffoldOptions } from '../core/scaffold/render';
import { describeBase, resolveOptions } from '../core/scaffold/render';
import { loadTemplates, templatesDir } from '../core/scaffold/templateFiles';
import type { CliIO } from './io';
import { UsageError, asUsage } from './io';

export const initHelp = `mlc init --preset ID [options]

Writes .devcontainer/devcontainer.json and Dockerfile for an ML preset, plus requirements.txt and
configs/experiment.yaml when absent, and the ignore rules .dockerignore needs. Presets: pytorch,
tensorflow, atlas (ATLAS AnalysisBase), scikit-hep.

  --preset ID          preset to scaffold (required)
  --variant gpu|cpu    GPU (CUDA base, hostRequirements.gpu optional) or CPU; default: the preset's first
  --framework-version V  framework version from the catalog; default: the newest
  --latest             look up the newest tag like the catalog's on its registry (same CUDA and flavour,
                       newer framework version) and use it; when the registry cannot be reached within
                       5 s or has nothing newer, the catalog's pinned tag. ${REGISTRY_MIRROR_ENV}=URL
                       asks a Docker Hub mirror (pull-through cache) instead of registry-1.docker.io
  --python 3.X         Python version for slim-Python bases (CPU variants)
  --jupyter-port N     container port Jupyter listens on (default 8888)
  --pip PKG            extra pip package, repeatable (e.g. --pip einops --pip pandas==2.2.3)
  --base-image REF     override the base image (e.g. a local or mirrored copy); its CUDA is read from the
                       image when the Docker engine has it, else checked at the first GPU run
  --name NAME          devcontainer.json name (default: folder and preset)
  --subfolder          write .devcontainer/<preset>/ instead, beside an existing configuration
  --dir DIR            project folder (default: .)
  --host URL           Docker host to read --base-image from instead of DOCKER_HOST / the docker context
  --yes                allow changes to existing files: merge into devcontainer.json (comments kept),
                       append to .dockerignore. Without it, existing files are never touched.
  --json               print {"base": the sentence describing it, "baseImage", "files": [{"path", "action":
                       create|modify|keep, "note"}], "written": N} instead of the lines`;

export async function init(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      preset: { type: 'string' },
      variant: { type: 'string' },
      'framework-version': { type: 'string' },
      latest: { type: 'boolean', default: false },
      python: { type: 'string' },
      'jupyter-port': { type: 'string' },
      pip: { type: 'string', multiple: true },
      'base-image': { type: 'string' },
      name: { type: 'string' },
      subfolder: { type: 'boolean', default: false },
      dir: { type: 'string', default: '.' },
      host: { type: 'string' },
      yes: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!values.preset) {
    throw new UsageError('--preset is required (pytorch, tensorflow, atlas, scikit-hep).');
  }
  if (values.variant !== undefined && values.variant !== 'gpu' && values.variant !== 'cpu') {
    throw new UsageError(`--variant must be gpu or cpu, not "${values.variant}".`);
  }
  const port = values['jupyter-port'] === undefined ? undefined : Number(values['jupyter-port']);
  if (port !== undefined && !/^\d+$/.test(values['jupyter-port']!))
    throw new UsageError(`--jupyter-port wants a port number (1–65535), not "${values['jupyter-port']}".`);
  const root = path.resolve(values.dir);
  const options: ScaffoldOptions = {
    preset: values.preset,
    ...(values.variant ? { variant: values.variant } : {}),
    ...(values['framework-version'] ? { version: values['framework-version'] } : {}),
    ...(values.python ? { python: values.python } : {}),
    ...(port !== undefined ? { jupyterPort: port } : {}),
    ...(values.pip ? { extraPip: values.pip } : {}),
    ...(values['base-image'] ? { baseImage: values['base-image'] } : {}),
    ...(values.name ? { name: values.name } : {}),
    layout: values.subfolder ? 'subfolder' : 'default',
  };
  const { catalog } = await loadTemplates(templatesDir());
  // The catalog judges the options (preset, variant, version, Python, port, pip packages, base image): a choice it
  // does not offer is a usage error, exit 2, before anything is looked up or written.
  asUsage(() => resolveOptions(catalog, options, path.basename(root)));
  let tagLine: string | undefined;
  if (values.latest) {
    const latest = await latestCatalogBase(catalog, options, path.basename(root), { env: io.env, signal });
    if (latest?.kind === 'newer') options.newerTag = { image: latest.image, version: latest.version };
    tagLine = latest && describeLatestTag(latest);
  }
  const prepared = await prepareScaffold(
    root,
    templatesDir(),
    options,
    values.yes,
    // Asked only for a base other than the catalog's; an engine that is down or slow leaves its CUDA unknown.
    localImageCuda((ref, s) => machineEngine(values.host, { timeoutMs: 5_000 }, io.env).inspectImage(ref, s), signal),
  ).catch((e: unknown) => {
    if (e instanceof Error && e.name === 'ScaffoldConflictError') {
      throw new UsageError(
        `${e.message} Re-run with --yes to merge into it (comments kept), or --subfolder to write .devcontainer/${values.preset}/ beside it.`,
      );
    }
    throw e;
  });
  const touched = prepared.plan.filter((p) => p.action === 'modify');
  if (touched.length && !values.yes) {
    throw new UsageError(
      `would change existing ${touched.map((p) => `${p.path} (${p.note})`).join(', ')}; re-run with --yes to allow it. Nothing was written.`,
    );
  }
  const written = await applyPlan(root, prepared.plan);
  if (values.json) {
    if (tagLine) io.err(tagLine);
    const files = prepared.plan.map((p) => ({ path: p.path, action: p.action, note: p.note }));
    io.out(JSON.stringify({ base: describeBase(prepared.options), baseImage: prepared.options.baseImage, files, written: written.length }));
    return 0;
  }
  io.out(describeBase(prepared.options));
  if (tagLine) {
    io.out(tagLine);
  } else if (prepared.options.baseImage === prepared.options.catalogBaseImage) {
    io.out(`Using the catalog's pinned ${prepared.options.baseImage}; --latest looks for a newer tag online.`);
  }
  for (const p of prepared.plan) {
    io.out(`  ${p.action.padEnd(6)} ${p.path}  (${p.note})`);
  }
  io.out(written.length ? `Wrote ${written.length} file(s) in ${root}.` : 'Nothing to write: the project already has this scaffold.');
  return 0;
}
