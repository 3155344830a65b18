import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { formatDoctorReport, runDoctor } from '../core/doctor';
import type { CliIO } from './io';

export const doctorHelp = `mlc doctor [--host URL] [--json]

Shows the Docker endpoint in use, the engine and API version, BuildKit availability, the storage
driver, and GPU runtimes / CDI devices. Exits 0 when the engine answers.

  --host URL   Docker host to use instead of DOCKER_HOST / the docker context (unix://, tcp://, ssh://)
  --json       Print the report as JSON`;

export async function doctor(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { host: { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: false,
  });
  const engine = machineEngine(values.host, { timeoutMs: 15_000 }, io.env);
  const report = await runDoctor(engine, signal);
  if (values.json) {
    io.out(JSON.stringify(report, null, 2));
  } else {
    for (const line of formatDoctorReport(report)) {
      io.out(line);
    }
  }
  return 0;
}
