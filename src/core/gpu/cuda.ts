import { compareDottedVersions } from '../docker/capabilities';

/**
 * Which NVIDIA driver a CUDA version needs, from NVIDIA's CUDA Toolkit release notes (Linux x86_64, GA releases)
 * and the minor-version compatibility rules (docs.nvidia.com/deploy/cuda-compatibility): from CUDA 11 on, an
 * application built with any 11.x/12.x/13.x toolkit runs, with a limited feature set (no PTX JIT of newer code), on a
 * driver of that major family's minimum.
 */
const TOOLKIT_DRIVER: Record<string, string> = {
  '10.0': '410.48',
  '10.1': '418.39',
  '10.2': '440.33',
  '11.0': '450.36.06',
  '11.1': '455.23.05',
  '11.2': '460.27.03',
  '11.3': '465.19.01',
  '11.4': '470.42.01',
  '11.5': '495.29.05',
  '11.6': '510.39.01',
  '11.7': '515.43.04',
  '11.8': '520.61.05',
  '12.0': '525.60.13',
  '12.1': '530.30.02',
  '12.2': '535.54.03',
  '12.3': '545.23.06',
  '12.4': '550.54.14',
  '12.5': '555.42.02',
  '12.6': '560.28.03',
  '12.8': '570.26',
  '12.9': '575.51.03',
  '13.0': '580.65.06',
  // CUDA 13.2 release notes, table 3 (checked 2026-11-25): 12.8 GA >= 570.26, 13.0 GA >= 580.65.06 as above.
  '13.1': '590.44.01',
  '13.2': '595.45.04',
};

/** The minimum driver for minor-version compatibility per CUDA major; none before CUDA 11. */
const MAJOR_COMPAT_DRIVER: Record<string, string> = {
  '11': '450.80.02',
  '12': '525.60.13',
  '13': '580',
};

export interface CudaRequirement {
  /** major.minor, e.g. "12.4". */
  version: string;
  /** Where it came from: the image's environment or the preset catalog. */
  source: 'CUDA_VERSION' | 'NVIDIA_REQUIRE_CUDA' | 'catalog' | 'base tag';
}

/** Reads the CUDA an image needs from its Env (as NVIDIA's CUDA base images set it); undefined for CPU images. */
export function cudaFromImageEnv(
  env: readonly string[],
): (CudaRequirement & { source: 'CUDA_VERSION' | 'NVIDIA_REQUIRE_CUDA' }) | undefined {
  const vars = new Map(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const require = /cuda>=(\d+\.\d+)/.exec(vars.get('NVIDIA_REQUIRE_CUDA') ?? '');
  if (require?.[1]) {
    return { version: require[1], source: 'NVIDIA_REQUIRE_CUDA' };
  }
  const version = /^(\d+\.\d+)/.exec(vars.get('CUDA_VERSION') ?? '');
  return version?.[1] ? { version: version[1], source: 'CUDA_VERSION' } : undefined;
}

/** Driver versions compare as dotted numbers: 535.104.05 > 535.54.03. */
export const compareDriverVersions = compareDottedVersions;

export type DriverVerdict =
  /** The driver is at least the one the toolkit shipped with. */
  | { kind: 'ok'; cuda: string; required: string }
  /** Below the toolkit's own driver but within its major family: runs through minor-version compatibility. */
  | { kind: 'minorCompat'; cuda: string; required: string; compatMinimum: string }
  | { kind: 'tooOld'; cuda: string; required: string }
  /** A CUDA version not in the table (newer than this release of ML Containers): judged by its major alone. */
  | { kind: 'unknownCuda'; cuda: string; compatMinimum: string | undefined; ok: boolean };

export function driverVerdict(driver: string, cuda: string): DriverVerdict {
  const minor = /^(\d+)\.(\d+)/.exec(cuda);
  const key = minor ? `${minor[1]}.${minor[2]}` : cuda;
  const major = minor?.[1] ?? cuda.split('.')[0] ?? '';
  const compat = MAJOR_COMPAT_DRIVER[major];
  const exact = TOOLKIT_DRIVER[key];
  if (!exact) {
    return { kind: 'unknownCuda', cuda: key, compatMinimum: compat, ok: compat ? compareDriverVersions(driver, compat) >= 0 : false };
  }
  if (compareDriverVersions(driver, exact) >= 0) {
    return { kind: 'ok', cuda: key, required: exact };
  }
  if (compat && compareDriverVersions(driver, compat) >= 0) {
    return { kind: 'minorCompat', cuda: key, required: exact, compatMinimum: compat };
  }
  return { kind: 'tooOld', cuda: key, required: compat ?? exact };
}

/**
 * The newest CUDA version (of those given) that a driver runs at full feature level, else the newest it runs through
 * minor-version compatibility: for "pick image tag Z".
 */
export function newestSupportedCuda(driver: string, candidates: readonly string[]): string | undefined {
  const newest = (kind: DriverVerdict['kind']): string | undefined =>
    candidates.filter((c) => driverVerdict(driver, c).kind === kind).sort((a, b) => compareDriverVersions(b, a))[0];
  return newest('ok') ?? newest('minorCompat');
}
