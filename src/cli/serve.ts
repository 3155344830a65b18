import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { lastLogLines } from '../core/jupyter/server';
import { ServeError, curlCommand, serveModel, serversToStop, stopModelServers } from '../core/model/serve';
import { templatesDir } from '../core/scaffold/templateFiles';
import type { CliIO } from './io';
import { UsageError, cliLogger } from './io';

export const serveHelp = `mlc serve MODEL [--port P] [--dir DIR] [--predict FILE] [--timeout SECONDS] [--detach] [--json] [--host URL]
mlc serve --stop MODEL|CONTAINER [--json] [--host URL]

Serves a model image (\`mlc model save\`) over the Open Inference Protocol (V2) REST that KServe, Triton and
MLServer speak: GET /v2/health/ready, GET /v2/models/NAME (metadata, with the model card), POST
/v2/models/NAME/infer (named tensors: name, shape, datatype, data). NAME is the model's repository
(digits-model). The server runs the project's predict.py, load(model_dir) and predict(model, inputs), in a
container of the image, published on 127.0.0.1 only, with a fresh random token that every request but the
health checks must carry (Authorization: Bearer TOKEN). Waits until the model is loaded, prints the URL, the
token and a curl command on stdout, then serves until Ctrl-C, and stops and removes the container.

  --port P          the host port (default: a free one the engine picks)
  --dir DIR         project folder whose predict.py is used when the image carries none (default: .)
  --predict FILE    this predict.py instead of the image's own
  --timeout SECONDS how long to wait for the model to load (default: 120)
  --detach          leave the server running and return; \`mlc serve --stop\` stops it
  --stop            stop and remove the servers of MODEL, or the server container CONTAINER
  --json            print {"url", "model", "token", "curl", "container", "image", "imageId", "port"} (with
                    --stop: {"stopped": [{"container", "model", "image"}]}); "token" is a password
  --host URL        Docker host instead of DOCKER_HOST / the docker context`;

export async function serve(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      dir: { type: 'string', default: '.' },
      predict: { type: 'string' },
      timeout: { type: 'string', default: '120' },
      detach: { type: 'boolean', default: false },
      stop: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1)
    throw new UsageError(
      values.stop ? 'name what to stop: mlc serve --stop MODEL|CONTAINER.' : 'name one model: mlc serve MODEL (`mlc models` lists them).',
    );
  const target = positionals[0]!;
  const engine = machineEngine(values.host, {}, io.env);
  if (values.stop) return stop(engine, target, values.json, io, signal);

  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535))
    throw new UsageError(`--port wants a port number (1-65535), not "${values.port}"`);
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout wants seconds, not "${values.timeout}"`);

  // SIGTERM and SIGHUP (a closed terminal, `kill`) stop the server as Ctrl-C does, so no container is left behind.
  const terminated = new AbortController();
  const onSignal = (): void => terminated.abort();
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    const stopped = AbortSignal.any([signal, terminated.signal]);
    const server = await serveModel({
      engine,
      model: target,
      ...(port !== undefined ? { port } : {}),
      ...(values.predict !== undefined ? { predict: values.predict } : {}),
      workspace: path.resolve(values.dir),
      templatesDir: templatesDir(),
      readyTimeoutMs: timeout * 1000,
      log: cliLogger(io, 'serve'),
      signal: stopped,
    }).catch((e: unknown) => {
      // Ctrl-C while the model loads: serveModel removed the container; say so as an interrupted command does.
      if (stopped.aborted) return undefined;
      throw e;
    });
    if (!server) {
      io.err('Interrupted: the model server was removed before it was ready.');
      return 130;
    }
    const url = `${server.baseUrl ?? ''}/v2/models/${server.model}`;
    const curl = await curlCommand(server);
    if (values.json) {
      io.out(
        JSON.stringify({
          url,
          model: server.model,
          token: server.token ?? null,
          curl,
          container: server.container,
          image: server.imageRef,
          imageId: server.imageId,
          port: server.port ?? null,
        }),
      );
    } else {
      io.out(`URL    ${url}`);
      io.out(`token  ${server.token ?? ''}`);
      io.out(curl);
    }
    if (values.detach) {
      io.err(`Serving ${server.model} in container ${server.container}; stop it with \`mlc serve --stop ${server.container}\`.`);
      return 0;
    }
    io.err(`Serving ${server.model} in container ${server.container} until Ctrl-C.`);
    const exitCode = await engine.waitContainer(server.containerId, stopped).catch((e: unknown) => {
      if (stopped.aborted) return undefined;
      throw e;
    });
    if (exitCode !== undefined) {
      const tail = await lastLogLines(engine, server.containerId, 20);
      await stopModelServers(engine, [server]).catch(() => undefined);
      throw new ServeError(
        `The model server ${server.container} exited (code ${exitCode})${tail.length ? `; its last lines:\n${tail.join('\n')}` : '.'}`,
        tail,
      );
    }
    // The caller's signal is spent: stopping gets none, so Ctrl-C cannot leave the container half-removed.
    await stopModelServers(engine, [server]);
    io.err(`Stopped and removed ${server.container}.`);
    return 130;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

async function stop(
  engine: ReturnType<typeof machineEngine>,
  target: string,
  json: boolean,
  io: CliIO,
  signal: AbortSignal,
): Promise<number> {
  const servers = await serversToStop(engine, target, signal);
  await stopModelServers(engine, servers, signal);
  if (json) io.out(JSON.stringify({ stopped: servers.map((s) => ({ container: s.container, model: s.model, image: s.imageRef })) }));
  else for (const s of servers) io.out(`stopped and removed ${s.container} (${s.model})`);
  if (!servers.length) io.err(`No model server of ${target} runs.`);
  return 0;
}
