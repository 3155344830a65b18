import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { apptainerBuildCommand, apptainerDefinition } from '../core/export/apptainer';
import { readProvenance } from '../core/labels';
import { optionalCatalog } from '../core/scaffold/templateFiles';
import { exportK8s, exportK8sHelp } from './exportK8s';
import { templatesDir } from './init';
import type { CliIO } from './io';
import { UsageError, writeGenerated } from './io';

const apptainerHelp = `mlc export apptainer IMAGE [--out DIR] [--archive FILE] [--build] [--force] [--host URL]

Writes an Apptainer/Singularity definition file for an experiment image, for HPC and GRID sites that run
Apptainer instead of Docker: the image's provenance labels carried over, and for HEP presets the release
setup sourced in %environment. Run it with GPUs as \`apptainer exec --nv IMAGE.sif …\`.

  --out DIR       where to write <name>_<tag>.def (default: .)
  --archive FILE  Bootstrap from a \`docker save IMAGE -o FILE\` tarball (to build on another machine)
                  instead of this machine's Docker engine (docker-daemon)
  --build         also build the .sif with apptainer (or singularity) when it is installed
  --force         replace an existing .def that differs
  --host URL      Docker host instead of DOCKER_HOST / the docker context`;

export const exportHelp = `${apptainerHelp}\n\n${exportK8sHelp}`;

function onPath(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

export async function exportCommand(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  if (args[0] === 'k8s') return exportK8s(args.slice(1), io, signal);
  const { values, positionals } = parseArgs({
    args,
    options: { out: { type: 'string', default: '.' }, archive: { type: 'string' }, build: { type: 'boolean', default: false }, force: { type: 'boolean', default: false }, host: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  const [format, imageRef, ...rest] = positionals;
  if (format !== 'apptainer' || !imageRef || rest.length) {
    throw new UsageError('usage: mlc export apptainer IMAGE [--out DIR] [--archive FILE] [--build], or mlc export k8s IMAGE … (see --help)');
  }
  const engine = machineEngine(values.host, {}, io.env);
  const image = await engine.inspectImage(imageRef, signal);
  if (!image) {
    io.err(`No image ${imageRef} in this engine: build it first (mlc build), or name one from mlc ls.`);
    return 1;
  }
  const { preset } = readProvenance(image.labels);
  const catalog = preset ? await optionalCatalog(templatesDir()) : undefined;
  const setupScript = catalog?.presets.find((p) => p.id === preset)?.setupScript;
  const archive = values.archive ? path.resolve(values.archive) : undefined;
  const def = apptainerDefinition({
    imageRef,
    source: archive ? { kind: 'docker-archive', archive } : { kind: 'docker-daemon' },
    labels: image.labels,
    ...(setupScript ? { setupScript } : {}),
  });

  const base = imageRef.replace(/^.*\//, '').replace(/[:@]/g, '_').replace(/[^\w.-]/g, '-');
  const file = path.resolve(values.out, `${base}.def`);
  if (!(await writeGenerated(file, def, values.force, io))) return 1;
  if (archive && !(await fs.stat(archive).catch(() => undefined))) {
    io.err(`Next: docker save ${imageRef} -o ${archive}  (the .def reads the image from that file)`);
  }
  if (!values.build) return 0;
  const tool = (['apptainer', 'singularity'] as const).find(onPath);
  const sif = file.replace(/\.def$/, '.sif');
  if (!tool) {
    io.err(`apptainer is not installed here: on a machine with Apptainer, run \`${apptainerBuildCommand('apptainer', path.basename(file), path.basename(sif)).join(' ')}\`.`);
    return 1;
  }
  const [command, ...commandArgs] = apptainerBuildCommand(tool, file, sif);
  const r = spawnSync(command!, commandArgs, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    io.err(`${tool} build failed (exit ${String(r.status)}).`);
    return 1;
  }
  io.out(sif);
  return 0;
}
