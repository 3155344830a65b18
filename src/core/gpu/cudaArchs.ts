// Which GPU architectures a framework build has kernels for, and whether a GPU's compute capability is among them.
// A build without the GPU's architecture starts, then fails at the first kernel with "no kernel image is available
// for execution on the device" — after a driver check that passed.

/**
 * The architectures of PyTorch's official CUDA builds (pytorch/pytorch .ci/manywheel/build_cuda.sh
 * TORCH_CUDA_ARCH_LIST), for images not built yet: the lock of a built image records its real list. CUDA 12.8 dropped
 * Maxwell and Pascal; CUDA 13 drops Volta too and is the first to build Blackwell by default.
 */
const PYTORCH_ARCHS: Record<string, string[]> = {
  '11.8': ['sm_50', 'sm_60', 'sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90'],
  '12.1': ['sm_50', 'sm_60', 'sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90'],
  '12.4': ['sm_50', 'sm_60', 'sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90'],
  '12.6': ['sm_50', 'sm_60', 'sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90'],
  '12.8': ['sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120'],
  '12.9': ['sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120', 'compute_120'],
  '13.0': ['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120'],
};

/** PyTorch's architectures for a CUDA version (major.minor, or longer); undefined for one not in the table. */
export function pytorchArchsForCuda(cuda: string): string[] | undefined {
  const key = /^(\d+\.\d+)/.exec(cuda)?.[1];
  return key ? PYTORCH_ARCHS[key] : undefined;
}

/** "sm_86" → 8.6, "sm_120" → 12.0, "compute_90" → 9.0 (PTX); undefined for anything else. Suffixed (sm_90a) count only exactly. */
function parseArch(arch: string): { kind: 'sm' | 'compute'; major: number; minor: number; suffix: string } | undefined {
  const m = /^(sm|compute)_(\d+)(\d)([a-z]?)$/.exec(arch.trim());
  return m ? { kind: m[1] as 'sm' | 'compute', major: Number(m[2]), minor: Number(m[3]), suffix: m[4] ?? '' } : undefined;
}

/** "12.0" → sm_120, as torch names architectures. */
export function smName(computeCap: string): string {
  return `sm_${computeCap.replace('.', '')}`;
}

/**
 * Whether a GPU of compute capability `cap` ("8.9") runs a build for `archs`: a cubin for sm_XY runs on the same
 * major at minor ≥ Y (sm_80 on 8.9), PTX for compute_XY is compiled by the driver for any GPU at or above it.
 */
export function archsCover(archs: readonly string[], cap: string): boolean {
  const m = /^(\d+)\.(\d+)$/.exec(cap.trim());
  if (!m) return true; // an unreadable capability is no reason to refuse
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return archs.some((a) => {
    const arch = parseArch(a);
    if (!arch) return false;
    if (arch.kind === 'compute') return arch.major < major || (arch.major === major && arch.minor <= minor);
    if (arch.suffix) return arch.major === major && arch.minor === minor;
    return arch.major === major && arch.minor <= minor;
  });
}
