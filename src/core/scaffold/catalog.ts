import { UserError } from '../errors';
import { isRecord } from '../json';
import { loadYaml } from '../yaml';

export type Variant = 'gpu' | 'cpu';

/** The GPU-architecture tables core/gpu/cudaArchs.ts holds, one per framework whose CUDA builds it knows. */
export const GPU_ARCH_TABLES = ['pytorch'] as const;
export type GpuArchTable = (typeof GPU_ARCH_TABLES)[number];

export interface BaseChoice {
  /** May contain `{python}`, filled with the chosen Python version. */
  image: string;
  /** The CUDA version the image needs from the host driver (GPU bases only). */
  cuda?: string;
  /** Framework wheels to install when the base lacks the framework (slim Python bases). */
  pip?: string;
  indexUrl?: string;
}

export interface PresetVersion {
  version: string;
  gpu?: BaseChoice;
  cpu?: BaseChoice;
}

export interface Preset {
  id: string;
  label: string;
  description: string;
  /** The Python module whose import proves the framework is there. */
  module: string;
  versions: PresetVersion[];
  pythonVersions: string[];
  user?: string;
  setupScript?: string;
  /** Commands in its containers run in a login shell (`bash -l`), the one that sources its setup script. */
  loginShell?: boolean;
  /** Whose CUDA builds' GPU architectures its images are checked against before a GPU run. */
  gpuArchs?: GpuArchTable;
  alternativeBases: { image: string; label: string }[];
}

export interface Catalog {
  presets: Preset[];
}

export class CatalogError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'CatalogError';
  }
}

/** Parses templates/catalog.yaml, checking every field it relies on. */
export function parseCatalog(text: string): Catalog {
  const raw: unknown = loadYaml().parse(text);
  const presets = field(raw, 'presets', 'catalog');
  if (!isRecord(presets)) {
    throw new CatalogError('catalog: `presets` must be a map of preset ids');
  }
  return {
    presets: Object.entries(presets).map(([id, p]) => {
      const where = `catalog: preset ${id}`;
      const versions = field(p, 'versions', where);
      if (!Array.isArray(versions) || versions.length === 0) {
        throw new CatalogError(`${where}: needs at least one version`);
      }
      const alternatives = isRecord(p) && Array.isArray(p.alternativeBases) ? p.alternativeBases : [];
      const loginShell = isRecord(p) ? p.loginShell : undefined;
      if (loginShell !== undefined && typeof loginShell !== 'boolean') {
        throw new CatalogError(`${where}.loginShell: must be true or false`);
      }
      // The Dockerfile sources a setup script from /etc/profile.d (templates/common/Dockerfile.mustache), which only a
      // login shell reads: a preset with one and no login shell would run its commands without its release set up.
      if (isRecord(p) && p.setupScript !== undefined && loginShell !== true) {
        throw new CatalogError(`${where}: a setupScript is sourced only by login shells; add \`loginShell: true\``);
      }
      const gpuArchs = isRecord(p) ? p.gpuArchs : undefined;
      if (gpuArchs !== undefined && !isGpuArchTable(gpuArchs)) {
        throw new CatalogError(`${where}.gpuArchs: must be one of: ${GPU_ARCH_TABLES.join(', ')}`);
      }
      return {
        id,
        label: text_(field(p, 'label', where), `${where}.label`),
        description: text_(field(p, 'description', where), `${where}.description`),
        module: text_(field(p, 'module', where), `${where}.module`),
        versions: versions.map((v, i) => parseVersion(v, `${where}.versions[${i}]`)),
        pythonVersions:
          isRecord(p) && Array.isArray(p.pythonVersions) ? p.pythonVersions.map((x) => text_(x, `${where}.pythonVersions`)) : [],
        ...(isRecord(p) && typeof p.user === 'string' ? { user: p.user } : {}),
        ...(isRecord(p) && typeof p.setupScript === 'string' ? { setupScript: p.setupScript } : {}),
        ...(loginShell ? { loginShell } : {}),
        ...(isGpuArchTable(gpuArchs) ? { gpuArchs } : {}),
        alternativeBases: alternatives.map((a, i) => ({
          image: text_(field(a, 'image', `${where}.alternativeBases[${i}]`), 'image'),
          label: text_(field(a, 'label', `${where}.alternativeBases[${i}]`), 'label'),
        })),
      };
    }),
  };
}

function parseVersion(raw: unknown, where: string): PresetVersion {
  const version = text_(field(raw, 'version', where), `${where}.version`);
  const out: PresetVersion = { version };
  for (const variant of ['gpu', 'cpu'] as const) {
    const base = isRecord(raw) ? raw[variant] : undefined;
    if (base === undefined) {
      continue;
    }
    const w = `${where}.${variant}`;
    out[variant] = {
      image: text_(field(base, 'image', w), `${w}.image`),
      ...(isRecord(base) && base.cuda !== undefined ? { cuda: text_(base.cuda, `${w}.cuda`) } : {}),
      ...(isRecord(base) && base.pip !== undefined ? { pip: text_(base.pip, `${w}.pip`) } : {}),
      ...(isRecord(base) && base.indexUrl !== undefined ? { indexUrl: text_(base.indexUrl, `${w}.indexUrl`) } : {}),
    };
  }
  if (!out.gpu && !out.cpu) {
    throw new CatalogError(`${where}: needs a gpu or a cpu base`);
  }
  if (out.gpu && !out.gpu.cuda) {
    throw new CatalogError(`${where}.gpu: names no CUDA version (the GPU preflight needs it)`);
  }
  return out;
}

export function findPreset(catalog: Catalog, id: string): Preset {
  const preset = catalog.presets.find((p) => p.id === id);
  if (!preset) {
    throw new CatalogError(`Unknown preset "${id}"; choose one of: ${catalog.presets.map((p) => p.id).join(', ')}.`);
  }
  return preset;
}

export function variantsOf(preset: Preset): Variant[] {
  const first = preset.versions[0];
  return (['gpu', 'cpu'] as const).filter((v) => first?.[v] !== undefined);
}

function isGpuArchTable(value: unknown): value is GpuArchTable {
  return GPU_ARCH_TABLES.some((t) => t === value);
}

function field(obj: unknown, key: string, where: string): unknown {
  if (!isRecord(obj) || !(key in obj)) {
    throw new CatalogError(`${where}: missing \`${key}\``);
  }
  return obj[key];
}

function text_(value: unknown, where: string): string {
  if (typeof value !== 'string' || !value) {
    throw new CatalogError(`${where}: must be a non-empty string`);
  }
  return value;
}
