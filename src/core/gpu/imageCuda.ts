import type { ImageDetails } from '../docker/engine';
import { readProvenance } from '../labels';
import type { Catalog } from '../scaffold/catalog';
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
