import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { apptainerBuildCommand, apptainerDefinition } from '../core/export/apptainer';
import { apptainerDefFileName, presetSetupScript } from '../core/export/rules';
import { optionalCatalog, templatesDir } from '../core/scaffold/templateFiles';
import { exportK8s, exportK8sHelp } from './exportK8s';
import { exportKserve, exportKserveHelp } from './exportKserve';
import type { CliIO } from './io';
import { UsageError, refuse, writeGenerated } from './io';

const apptainerHelp = `mlc export apptainer IMAGE [--out DIR] [--archive FILE] [--build] [--force] [--json] [--host URL]

Writes an Apptainer/Singularity definition file for an experiment image, for HPC and GRID sites that run
Apptainer instead of Docker: the image's provenance labels carried over, and for HEP presets the release
setup sourced in %environment. Run it with GPUs as \`apptainer exec --nv IMAGE.sif …\`. The .def of a
model image (mlc model save) serves it with \`apptainer run\`: on 127.0.0.1:8080, the token from MLC_SERVE_TOKEN.

  --out DIR       where to write <name>_<tag>.def (default: .)
  --archive FILE  Bootstrap from a \`docker save IMAGE -o FILE\` tarball (to build on another machine)
                  instead of this machine's Docker engine (docker-daemon)
  --build         also build the .sif with apptainer (or singularity) when it is installed
  --force         replace an existing .def that differs
  --json          print {"file": "<the .def>", "sif": "<the .sif>" or null} (apptainer's own output goes to stderr)
  --host URL      Docker host instead of DOCKER_HOST / the docker context`;

export const exportHelp = `${apptainerHelp}\n\n${exportK8sHelp}\n\n${exportKserveHelp}`;

function onPath(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

export async function exportCommand(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  if (args[0] === 'k8s') return exportK8s(args.slice(1), io, signal);
  if (args[0] === 'kserve') return exportKserve(args.slice(1), io, signal);
  const { values, positionals } = parseArgs({
    args,
    options: {
      out: { type: 'string', default: '.' },
      archive: { type: 'string' },
      build: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [format, imageRef, ...rest] = positionals;
  if (format !== 'apptainer' || !imageRef || rest.length) {
    throw new UsageError(
      'usage: mlc export apptainer IMAGE [--out DIR] [--archive FILE] [--build], mlc export k8s IMAGE … or mlc export kserve MODEL … (see --help)',
    );
  }
  const engine = machineEngine(values.host, {}, io.env);
  const image = await engine.inspectImage(imageRef, signal);
  if (!image) return refuse(io, values.json, `No image ${imageRef} in this engine: build it first (mlc build), or name one from mlc ls.`);
  const setupScript = presetSetupScript(image.labels, await optionalCatalog(templatesDir()));
  const archive = values.archive ? path.resolve(values.archive) : undefined;
  const def = apptainerDefinition({
    imageRef,
    source: archive ? { kind: 'docker-archive', archive } : { kind: 'docker-daemon' },
    labels: image.labels,
    image,
    ...(setupScript ? { setupScript } : {}),
    warn: (m) => io.err(`warning: ${m}`),
  });

  const file = path.resolve(values.out, apptainerDefFileName(imageRef));
  const refused = await writeGenerated(file, def, values.force);
  if (refused) return refuse(io, values.json, refused);
  if (!values.json) io.out(file);
  if (archive && !(await fs.stat(archive).catch(() => undefined))) {
    io.err(`Next: docker save ${imageRef} -o ${archive}  (the .def reads the image from that file)`);
  }
  if (!values.build) {
    if (values.json) io.out(JSON.stringify({ file, sif: null }));
    return 0;
  }
  const tool = (['apptainer', 'singularity'] as const).find(onPath);
  const sif = file.replace(/\.def$/, '.sif');
  if (!tool) {
    return refuse(
      io,
      values.json,
      `apptainer is not installed here: on a machine with Apptainer, run \`${apptainerBuildCommand('apptainer', path.basename(file), path.basename(sif)).join(' ')}\`.`,
    );
  }
  const [command, ...commandArgs] = apptainerBuildCommand(tool, file, sif);
  // With --json, stdout is the JSON document's alone: apptainer's own output goes to stderr.
  const r = spawnSync(command!, commandArgs, { stdio: ['ignore', values.json ? 2 : 'inherit', 'inherit'] });
  if (r.status !== 0) return refuse(io, values.json, `${tool} build failed (exit ${String(r.status)}).`);
  io.out(values.json ? JSON.stringify({ file, sif }) : sif);
  return 0;
}
