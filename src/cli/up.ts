import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { browserUrl, findJupyterServers, serverLabel, startJupyter, stopJupyter } from '../core/jupyter/server';
import { openProject } from '../core/project';
import { parseGpuSetting } from '../core/container/gpu';
import { parseSize } from '../core/format';
import { runtimeSettings } from '../core/container/runtime';
import { templatesDir } from '../core/scaffold/templateFiles';
import type { CliIO } from './io';
import { UsageError, asUsage, cliLogger } from './io';

export const upHelp = `mlc up [--dir DIR] [--devcontainer FILE] [--image REF] [--gpu auto|all|none|0,1] [--shm-size SIZE] [--timeout SECONDS]
      [--json] [--host URL] [--env NAME[=VALUE]]… [--env-file FILE]… [--mount SPEC]… [--allow-image-privileges]

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
  --json            print {"url", "container", "image", "imageId", "port", "gpu", "reused", "note"} instead of
                    the URL; "url" carries the token, as the plain output does: treat it as a password
  --env, --env-file, --mount  as for \`mlc run\`; devcontainer.json's containerEnv, remoteEnv, mounts, runArgs and
                    remoteUser apply too
  --allow-image-privileges  as for \`mlc run\`: grant what the image's devcontainer.metadata asks (privileged,
                    capabilities, security options, bind mounts) beyond devcontainer.json's Features
  --host URL        Docker host instead of DOCKER_HOST / the docker context`;

export const downHelp = `mlc down [--dir DIR] [--all] [--json] [--host URL]

Stops and removes the Jupyter containers \`mlc up\` started for the project (--all: for every project).
--json prints {"removed": [{"container", "image"}]}.`;

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
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
      env: { type: 'string', multiple: true, default: [] },
      'env-file': { type: 'string', multiple: true, default: [] },
      mount: { type: 'string', multiple: true, default: [] },
      'allow-image-privileges': { type: 'boolean', default: false },
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
  const raw = project.rawConfig;
  const runtime = await runtimeSettings(raw, {
    workspace: folder,
    hostEnv: io.env,
    ...(raw ? { configFile: project.devcontainerPath } : {}),
    user: { env: values.env, envFiles: values['env-file'], mounts: values.mount, allowImagePrivileges: values['allow-image-privileges'] },
  });
  const result = await startJupyter({
    runtime,
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
  io.err(
    `${result.reused ? 'Jupyter already running' : 'Jupyter ready'}: ${serverLabel(result.server)} in container ${result.server.name}`,
  );
  const url = browserUrl(result.server) ?? '';
  if (values.json) {
    const s = result.server;
    io.out(
      JSON.stringify({
        url,
        container: s.name,
        image: s.imageRef,
        imageId: s.imageId,
        port: s.port ?? null,
        gpu: s.gpu,
        reused: result.reused,
        note: result.note ?? null,
      }),
    );
  } else {
    io.out(url);
  }
  return 0;
}

export async function down(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: '.' },
      all: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const engine = machineEngine(values.host, {}, io.env);
  const servers = await findJupyterServers(engine, { ...(values.all ? {} : { workspace: path.resolve(values.dir) }), all: true }, signal);
  await stopJupyter(engine, servers, signal);
  if (values.json) io.out(JSON.stringify({ removed: servers.map((s) => ({ container: s.name, image: s.imageRef })) }));
  else for (const s of servers) io.out(`removed ${s.name} (${serverLabel(s)})`);
  if (!servers.length) io.err('No Jupyter container to stop.');
  return 0;
}
