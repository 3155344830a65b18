import { execFile } from 'node:child_process';

/** One GPU as `nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total --format=csv,noheader` lists it. */
export interface HostGpu {
  index: string;
  name: string;
  uuid: string;
  driverVersion: string;
  /** MiB; undefined when nvidia-smi says [N/A] (e.g. MIG or some laptop parts). */
  memoryMiB: number | undefined;
  /** The compute capability, "12.0"; absent where the driver's nvidia-smi has no compute_cap field (before 510). */
  computeCap?: string;
}

/** What the machine running the engine says about its NVIDIA GPUs. */
export type HostGpuProbe =
  | { kind: 'gpus'; gpus: HostGpu[]; driverVersion: string }
  | { kind: 'noDevices' }
  | { kind: 'driverNotLoaded'; detail: string }
  | { kind: 'notInstalled' }
  /** The engine runs elsewhere (ssh://, tcp://): this machine's GPUs say nothing about it. */
  | { kind: 'remote'; host: string }
  | { kind: 'failed'; detail: string };

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,uuid,driver_version,memory.total', '--format=csv,noheader'];
/** The same with each GPU's compute capability last; drivers before 510 refuse the field and get NVIDIA_SMI_ARGS. */
export const NVIDIA_SMI_ARGS_CC = ['--query-gpu=index,name,uuid,driver_version,memory.total,compute_cap', '--format=csv,noheader'];

/**
 * Parses the CSV. GPU names may contain commas ("NVIDIA A100-SXM4-80GB" does not, some OEM names do), so the
 * fixed fields are taken from both ends: index first; uuid, driver and memory last.
 */
export function parseNvidiaSmiCsv(stdout: string, withComputeCap = false): HostGpu[] {
  const gpus: HostGpu[] = [];
  for (const raw of stdout.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length < (withComputeCap ? 6 : 5) || !/^\d+$/.test(fields[0] ?? '')) {
      throw new Error(`unexpected nvidia-smi line: ${line}`);
    }
    const [index, ...rest] = fields;
    const cap = withComputeCap ? (rest.pop() ?? '') : '';
    const memory = rest.pop() ?? '';
    const driverVersion = rest.pop() ?? '';
    const uuid = rest.pop() ?? '';
    const mib = /^(\d+)(\s*MiB)?$/i.exec(memory);
    gpus.push({
      index: index ?? '',
      name: rest.join(', '),
      uuid,
      driverVersion,
      memoryMiB: mib ? Number(mib[1]) : undefined,
      ...(/^\d+\.\d+$/.test(cap) ? { computeCap: cap } : {}),
    });
  }
  return gpus;
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program; rejects with the spawn error (code ENOENT when it is not installed). */
export type Exec = (file: string, args: string[], signal?: AbortSignal) => Promise<ProcessResult>;

export const execProcess: Exec = (file, args, signal) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 20_000, encoding: 'utf8', ...(signal ? { signal } : {}) }, (error, stdout, stderr) => {
      const code = (error as NodeJS.ErrnoException | null)?.code;
      if (error && typeof code === 'string') {
        reject(error);
        return;
      }
      resolve({ code: error ? (typeof code === 'number' ? code : 1) : 0, stdout, stderr });
    });
  });

/** Maps an nvidia-smi run (or its failure to start) to a probe result. Exit 6 is "No devices were found", 9 "driver not loaded". */
export function interpretNvidiaSmi(result: ProcessResult | NodeJS.ErrnoException, withComputeCap = false): HostGpuProbe {
  if (result instanceof Error) {
    return result.code === 'ENOENT' ? { kind: 'notInstalled' } : { kind: 'failed', detail: result.message };
  }
  const r = result;
  const text = `${r.stdout}\n${r.stderr}`;
  if (/No devices were found/i.test(text)) {
    return { kind: 'noDevices' };
  }
  if (
    /couldn't communicate with the NVIDIA driver|driver\/library version mismatch|NVML: Driver Not Loaded|Failed to initialize NVML/i.test(
      text,
    )
  ) {
    return { kind: 'driverNotLoaded', detail: firstLine(text) };
  }
  if (r.code !== 0) {
    return { kind: 'failed', detail: firstLine(text) || `exit code ${String(r.code)}` };
  }
  try {
    const gpus = parseNvidiaSmiCsv(r.stdout, withComputeCap);
    if (!gpus.length) return { kind: 'noDevices' };
    return { kind: 'gpus', gpus, driverVersion: gpus[0]?.driverVersion ?? '' };
  } catch (e) {
    return { kind: 'failed', detail: e instanceof Error ? e.message : String(e) };
  }
}

export async function probeHostGpus(exec: Exec = execProcess, signal?: AbortSignal): Promise<HostGpuProbe> {
  try {
    const withCap = await exec('nvidia-smi', NVIDIA_SMI_ARGS_CC, signal);
    if (withCap.code === 0 || !/not a valid field/i.test(`${withCap.stdout}\n${withCap.stderr}`)) {
      return interpretNvidiaSmi(withCap, true);
    }
    return interpretNvidiaSmi(await exec('nvidia-smi', NVIDIA_SMI_ARGS, signal));
  } catch (e) {
    return interpretNvidiaSmi(e as NodeJS.ErrnoException);
  }
}

function firstLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find(Boolean) ?? ''
  );
}
