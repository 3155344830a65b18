import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parseBuildArgList } from '../core/build/buildArgs';
import { buildExperiment } from '../core/build/buildExperiment';
import { machineEngine } from '../core/docker/machine';
import { loadRegistryAuth } from '../core/docker/registryAuth';
import { GitCli } from '../core/provenance/git';
import type { CliIO } from './io';
import { asUsage, cliLogger } from './io';

export const buildHelp = `mlc build [--dir DIR] [--config FILE] [--devcontainer FILE] [--build-arg NAME=VALUE]… [--no-lock] [--strict] [--json] [--host URL]

Builds the project's devcontainer Dockerfile (for an \`image\` config: a layer FROM that image, in an empty
context) with BuildKit into an experiment image tagged <name>:<sha7>[-dirty] and <name>:latest, labelled
with the commit, branch, remote, Dockerfile hash and (with --config) the hyper-parameter file's path and
hash. Progress goes to stderr; the image id and tags to stdout. Before sending the context, every build names the files in it that look like secrets
(.env, *.pem, *.key, credentials.json, .aws/ …) or are over 100 MB, with the .dockerignore line to add.

  --dir DIR            project folder (default: .)
  --config FILE        hyper-parameter YAML to record in the labels (e.g. configs/experiment.yaml)
  --devcontainer FILE  devcontainer.json to build, relative to DIR (default: .devcontainer/devcontainer.json,
                       else .devcontainer.json, else the only .devcontainer/<name>/devcontainer.json)
  --build-arg N=V      overrides devcontainer.json's build.args (repeatable), e.g. BASE_IMAGE=<your mirror>
  --no-lock            skip the environment lock (pip freeze in a throw-away container) after the build
  --strict             fail (exit 1, nothing built) instead of warning when the context holds such a file
  --json               print {"imageId", "tags": [...], "commit": sha or null, "dirty", "builder": buildkit|classic,
                       "contextBytes", "contextTransport": session|tar, "cachedSteps": [...],
                       "contextFindings": [{"path", "kind": secret|large, "bytes", "ignoreLine"}], "labels": {...}}
                       instead of the id and tags
  --host URL           Docker host instead of DOCKER_HOST / the docker context`;

export async function build(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: '.' },
      config: { type: 'string' },
      devcontainer: { type: 'string' },
      'build-arg': { type: 'string', multiple: true },
      'no-lock': { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const buildArgs = asUsage(() => parseBuildArgList(values['build-arg'] ?? []));
  const engine = machineEngine(values.host, {}, io.env);
  const log = cliLogger(io, 'build');
  const result = await buildExperiment({
    folder: path.resolve(values.dir),
    ...(values.config ? { hyperparameters: values.config } : {}),
    ...(values.devcontainer ? { devcontainer: values.devcontainer } : {}),
    buildArgs,
    lock: !values['no-lock'],
    strict: values.strict,
    engine,
    git: new GitCli(),
    registryAuth: (host, s) => loadRegistryAuth(host, io.env, io.env.HOME || os.homedir(), s),
    log,
    signal,
  });
  if (values.json) {
    io.out(
      JSON.stringify({
        imageId: result.imageId,
        tags: result.tags,
        commit: result.git?.sha ?? null,
        dirty: result.git?.dirty ?? false,
        builder: result.builder,
        contextBytes: result.contextBytesSent,
        contextTransport: result.contextTransport,
        cachedSteps: result.cachedSteps,
        contextFindings: result.contextFindings,
        labels: result.labels,
      }),
    );
    return 0;
  }
  io.out(result.imageId);
  for (const tag of result.tags) io.out(tag);
  return 0;
}
