import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { browserUrl, findJupyterServers, serverLabel, startJupyter, stopJupyter } from '../core/jupyter/server';
import { openProject } from '../core/project';
import { parseGpuSetting } from '../core/container/gpu';
import { parseSize } from '../core/container/request';
import { templatesDir } from '../core/scaffold/templateFiles';
import type { CliIO } from './io';
import { UsageError, asUsage, cliLogger } from './io';

export const upHelp = `mlc up [--dir DIR] [--devcontainer FILE] [--image REF] [--gpu auto|all|none|0,1] [--shm-size SIZE] [--timeout SECONDS] [--host URL]

Starts Jupyter in a container of the experiment image with the project bind-mounted at /workspace, published
on 127.0.0.1 only at a free port, with a fresh random token. Waits until Jupyter answers, then prints its URL
(token included) on stdout. A Jupyter already running for this project and image is reused.

  --dir DIR         project folder (default: .)
  --devcontainer FILE  devcontainer.json whose image to run, when the folder has several
  --image REF       image to run (default: <project>:latest, the last \`mlc build\`)
  --gpu MODE        auto (GPU when the preflight passes, else CPU with a note), all, none, or device ids/UUIDs
                    (default: auto)
  --shm-size SIZE   /dev/shm size for data loaders (default: 8g)
  --timeout SECONDS how long to wait for Jupyter to answer (default: 120)
  --host URL        Docker host instead of DOCKER_HOST / the docker context`;

export const downHelp = `mlc down [--dir DIR] [--all] [--host URL]

Stops and removes the Jupyter containers \`mlc up\` started for the project (--all: for every project).`;

export async function up(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: '.' },
      devcontainer: { type: 'string' },
      image: { type: 'string' },
      gpu: { type: 'string', default: 'auto' },
      'shm-size': { type: 'string', default: '8g' },
      timeout: { type: 'string', default: '120' },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const folder = path.resolve(values.dir);
  const gpu = asUsage(() => parseGpuSetting(values.gpu));
  const shm = asUsage(() => parseSize(values['shm-size']));
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout wants seconds, not "${values.timeout}"`);
  const engine = machineEngine(values.host, {}, io.env);
  const log = cliLogger(io, 'up');
  const project = await openProject(folder, { devcontainer: values.devcontainer, templatesDir: templatesDir() });
  const image = values.image ?? project.imageRef;
  const catalog = project.catalog;
  const result = await startJupyter({
    engine,
    image,
    workspace: folder,
    gpu,
    shmSizeBytes: shm,
    readyTimeoutMs: timeout * 1000,
    log,
    ...(catalog ? { catalog } : {}),
    signal,
  });
  if (result.note) io.err(result.note);
  io.err(`${result.reused ? 'Jupyter already running' : 'Jupyter ready'}: ${serverLabel(result.server)} in container ${result.server.name}`);
  io.out(browserUrl(result.server) ?? '');
  return 0;
}

export async function down(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { dir: { type: 'string', default: '.' }, all: { type: 'boolean', default: false }, host: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const engine = machineEngine(values.host, {}, io.env);
  const servers = await findJupyterServers(engine, { ...(values.all ? {} : { workspace: path.resolve(values.dir) }), all: true }, signal);
  await stopJupyter(engine, servers, signal);
  for (const s of servers) io.out(`removed ${s.name} (${serverLabel(s)})`);
  if (!servers.length) io.err('No Jupyter container to stop.');
  return 0;
}
