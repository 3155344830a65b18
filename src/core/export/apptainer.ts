// Apptainer/Singularity definition files for an experiment image, for HPC and GRID sites where Docker does not run.
import { isProvenanceLabel, readProvenance } from '../labels';

export interface ApptainerInput {
  /** The image as Docker names it (a tag, or an id for docker-daemon). */
  imageRef: string;
  /**
   * docker-daemon: Apptainer reads the image from the local engine (building on the same machine);
   * docker-archive: from a `docker save` tarball (copied to the cluster with the .def).
   */
  source: { kind: 'docker-daemon' } | { kind: 'docker-archive'; archive: string };
  /** The image's labels: provenance is carried over into the SIF's labels. */
  labels: Readonly<Record<string, string>>;
  /** A script to source in every shell (ATLAS AnalysisBase's release_setup.sh), as the Docker image does. */
  setupScript?: string;
}

/** Label keys carried into the SIF: ours and the OCI ones (revision, source, created, title, version). */
function carried(labels: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(labels)
    .filter(([k]) => isProvenanceLabel(k))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => [k, v.replace(/[\r\n]+/g, ' ').trim()]);
}

/** A single-quoted POSIX shell word. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The .def text. GPUs are not a build-time matter for Apptainer: `--nv` at run time binds the host's driver, so
 * the image only says how to run it. The image's ENTRYPOINT/CMD become the runscript, as Apptainer does for
 * Docker sources; we add no %runscript.
 */
export function apptainerDefinition(i: ApptainerInput): string {
  const from = i.source.kind === 'docker-daemon' ? i.imageRef : i.source.archive;
  const { revision, dirty } = readProvenance(i.labels);
  const lines = [`Bootstrap: ${i.source.kind}`, `From: ${from}`, ''];
  const labels = carried(i.labels);
  if (labels.length) {
    lines.push('%labels', ...labels.map(([k, v]) => `    ${k} ${v}`), '');
  }
  if (i.setupScript) {
    lines.push(
      '%environment',
      '    # The release environment in every shell, as in the Docker image (apptainer sources this with /bin/sh).',
      `    if [ -f ${shellQuote(i.setupScript)} ]; then . ${shellQuote(i.setupScript)} >/dev/null 2>&1 || true; fi`,
      '',
    );
  }
  lines.push(
    '%help',
    `    Experiment image ${i.imageRef}${revision ? ` from commit ${revision.slice(0, 12)}${dirty ? ' with uncommitted changes' : ''}` : ''}, exported by ML Containers.`,
    '    GPUs: apptainer exec --nv IMAGE.sif python train.py   (binds the host NVIDIA driver)',
    '    CPU:  apptainer exec IMAGE.sif python train.py',
    '',
  );
  return lines.join('\n');
}

/** The command that builds the .sif from the definition (needs apptainer, or singularity, on PATH). */
export function apptainerBuildCommand(tool: 'apptainer' | 'singularity', def: string, sif: string): string[] {
  return [tool, 'build', sif, def];
}
