import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { describeEndpoint } from '../core/docker/endpoint';
import { machineEngine } from '../core/docker/machine';
import { formatDoctorReport, runDoctor } from '../core/doctor';
import { checkGpu, formatPreflight } from '../core/gpu/preflight';
import { parseGpuSetting } from '../core/container/gpu';
import { optionalCatalog, templatesDir } from '../core/scaffold/templateFiles';
import type { CliIO } from './io';
import { UsageError } from './io';

export const doctorHelp = `mlc doctor [--host URL] [--json] [--gpu [--image REF] [--devices 0,1]]

Shows the Docker endpoint in use, the engine and API version, BuildKit availability, the storage
driver, and GPU runtimes / CDI devices. Exits 0 when the engine answers.

With --gpu, runs the GPU preflight instead: the engine's GPU access (nvidia runtime or CDI), the host's
GPUs and driver (nvidia-smi), the CUDA the image needs, and whether the driver can run it. Every problem
is one sentence that says what to do. The last line is the verdict, one of three:
"will work", "will not work: <what is missing, and the fix>" or "can't tell: <what could not be checked>"
(a remote engine, nvidia-smi missing here). Exits 0 when they will work, 1 when they will not, and 0 when it
can't tell (with --json, the verdict also goes to stderr as a warning; scripts that need certainty read
verdict.kind: works, blocked or unknown).

  --host URL      Docker host to use instead of DOCKER_HOST / the docker context (unix://, tcp://, ssh://)
  --json          Print the report as JSON: {"endpoint", "engine", "info", "buildKit", "cacheMounts", "gpu",
                  "notes"}; when the engine does not answer, {"endpoint", "error"} with exit 1. With --gpu:
                  {"access", "cdiDevices", "isPodman", "host", "toolkit", "image", "cuda", "driver", "problems",
                  "verdict": {"kind": works|blocked|unknown, "sentence"}}
  --gpu           GPU preflight
  --image REF     with --gpu: check the driver against this image's CUDA
  --devices IDS   with --gpu: check these device indexes or UUIDs exist`;

export async function doctor(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      json: { type: 'boolean', default: false },
      gpu: { type: 'boolean', default: false },
      image: { type: 'string' },
      devices: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!values.gpu && (values.image || values.devices)) throw new UsageError('--image and --devices go with --gpu');
  const engine = machineEngine(values.host, { timeoutMs: 15_000 }, io.env);
  if (values.gpu) {
    const devices = values.devices ? parseGpuSetting(values.devices) : undefined;
    if (devices !== undefined && !Array.isArray(devices)) throw new UsageError('--devices wants device indexes or UUIDs such as 0,1');
    const details = values.image ? await engine.inspectImage(values.image, signal) : undefined;
    if (values.image && !details) throw new UsageError(`image ${values.image} not found`);
    const catalog = await optionalCatalog(templatesDir());
    const preflight = await checkGpu({
      engine,
      ...(values.image && details ? { image: { ref: values.image, details } } : {}),
      // Run in the project: its lock of the image says which GPUs the image's PyTorch has kernels for.
      folder: path.resolve('.'),
      ...(catalog ? { catalog } : {}),
      ...(devices ? { devices } : {}),
      signal,
    });
    if (values.json) {
      io.out(JSON.stringify(preflight, null, 2));
      if (preflight.verdict.kind === 'unknown') io.err(`warning: ${preflight.verdict.sentence}`);
    } else {
      for (const line of formatPreflight(preflight)) io.out(line);
    }
    return preflight.verdict.kind === 'blocked' ? 1 : 0;
  }
  const report = await runDoctor(engine, signal).catch((e: unknown) => {
    if (!values.json) throw e;
    // A dead engine is a finding too: where mlc looked and what went wrong, as JSON; the exit code stays 1.
    const error = e instanceof Error ? e.message : String(e);
    io.err(`mlc doctor: ${error}`);
    io.out(JSON.stringify({ endpoint: describeEndpoint(engine.endpoint), error }, null, 2));
    return undefined;
  });
  if (!report) return 1;
  if (values.json) {
    io.out(JSON.stringify(report, null, 2));
  } else {
    for (const line of formatDoctorReport(report)) {
      io.out(line);
    }
  }
  return 0;
}
