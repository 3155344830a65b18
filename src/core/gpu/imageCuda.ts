import type { ImageDetails } from '../docker/engine';
import { readProvenance } from '../labels';
import type { Catalog } from '../scaffold/catalog';
import type { BaseCudaLookup } from '../scaffold/prepare';
import type { CudaRequirement } from './cuda';
import { cudaFromImageEnv } from './cuda';

export interface ImageGpuFacts {
  cuda: CudaRequirement | undefined;
  /** The same preset's GPU bases, to suggest one a given driver supports. */
  alternatives: { image: string; cuda: string }[];
}

/**
 * The CUDA an image needs: its Env first (NVIDIA's bases set CUDA_VERSION / NVIDIA_REQUIRE_CUDA), else the preset
 * catalog's entry for the base it was built from (pytorch/pytorch sets neither), else a `cudaX.Y` in the base's tag.
 */
export function imageGpuFacts(image: Pick<ImageDetails, 'env' | 'labels'>, catalog: Catalog | undefined): ImageGpuFacts {
  const { preset: presetId, base } = readProvenance(image.labels);
  const preset = catalog?.presets.find((p) => p.id === presetId);
  const alternatives = (preset?.versions ?? []).flatMap((v) => (v.gpu?.cuda ? [{ image: v.gpu.image, cuda: v.gpu.cuda }] : []));
  const fromEnv = cudaFromImageEnv(image.env);
  if (fromEnv) return { cuda: fromEnv, alternatives };
  const fromCatalog = alternatives.find((a) => a.image === base)?.cuda;
  if (fromCatalog) return { cuda: { version: fromCatalog, source: 'catalog' }, alternatives };
  const fromTag = base ? /cuda[-_]?(\d+\.\d+)/i.exec(base)?.[1] : undefined;
  return { cuda: fromTag ? { version: fromTag, source: 'base tag' } : undefined, alternatives };
}

/**
 * What `mlc init` and New ML Environment say about a base the user chose: the CUDA in the image's own environment
 * when the engine has the image. Not pulled yet, no CUDA named, or an engine that cannot be asked: undefined, and
 * the scaffold says CUDA is unknown (the preflight checks at the first GPU run); choosing a base never fails on it.
 */
export function localImageCuda(
  inspect: (ref: string, signal?: AbortSignal) => Promise<Pick<ImageDetails, 'env'> | undefined>,
  signal?: AbortSignal,
): BaseCudaLookup {
  return async (image) => {
    try {
      const details = await inspect(image, signal);
      return details ? cudaFromImageEnv(details.env) : undefined;
    } catch (e) {
      if (signal?.aborted) throw e;
      return undefined;
    }
  };
}
