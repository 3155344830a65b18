// Apptainer/Singularity definition files for an experiment image, for HPC and GRID sites where Docker does not run.
import type { ImageDetails } from '../docker/engine';
import { UserError } from '../errors';
import { isProvenanceLabel, readProvenance } from '../labels';
import { hasControlCharacter, printable, singleLine } from '../generatedText';
import { MODEL_DIR, readModelLabels } from '../model/card';
import { PREDICT_PATH, SERVER_PATH, SERVE_PORT, imageServes, servedModelName } from '../model/layout';

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
  /** Told, in one sentence, of the labels left out of the .def because their keys are not plain words. */
  warn?: (message: string) => void;
  /** The image's CMD and tags: a model image whose CMD is our server gets a %runscript that serves it (see below). */
  image?: Pick<ImageDetails, 'cmd' | 'repoTags'>;
}

/**
 * A %labels key is the line's first word: anything else (a newline above all, which starts a section such as
 * %setup, run on the host at build time) would be read as more than a key. Labels come from any base image.
 */
const DEF_LABEL_KEY = /^[A-Za-z0-9._-]+$/;

/**
 * Label keys carried into the SIF: ours and the OCI ones (revision, source, created, title, version), each value on
 * its line; `dropped` the provenance-looking keys a .def cannot hold.
 */
function carried(labels: Readonly<Record<string, string>>): { kept: [string, string][]; dropped: string[] } {
  const provenance = Object.entries(labels)
    .filter(([k]) => isProvenanceLabel(k))
    .sort(([a], [b]) => a.localeCompare(b));
  return {
    kept: provenance.filter(([k]) => DEF_LABEL_KEY.test(k)).map(([k, v]) => [k, singleLine(v)]),
    dropped: provenance.filter(([k]) => !DEF_LABEL_KEY.test(k)).map(([k]) => k),
  };
}

/** Refuses a value the .def would have to split across lines. */
function oneLine(what: string, value: string): string {
  if (hasControlCharacter(value))
    throw new UserError(
      `The Apptainer definition cannot hold ${what} ${printable(value)}: it has a newline or another control character; rename it.`,
    );
  return value;
}

/** A single-quoted POSIX shell word. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The .def text. GPUs are not a build-time matter for Apptainer: `--nv` at run time binds the host's driver, so
 * the image only says how to run it. The image's ENTRYPOINT/CMD become the runscript, as Apptainer does for
 * Docker sources; we add a %runscript only to a model image that serves, so that it serves on 127.0.0.1.
 */
export function apptainerDefinition(i: ApptainerInput): string {
  const imageRef = oneLine('the image', i.imageRef);
  const from = i.source.kind === 'docker-daemon' ? imageRef : oneLine('the archive path', i.source.archive);
  const setupScript = i.setupScript && oneLine('the setup script', i.setupScript);
  const provenance = readProvenance(i.labels);
  const revision = provenance.revision && singleLine(provenance.revision);
  const lines = [`Bootstrap: ${i.source.kind}`, `From: ${from}`, ''];
  const { kept, dropped } = carried(i.labels);
  if (dropped.length) {
    const n = dropped.length === 1 ? 'one label' : `${dropped.length} labels`;
    i.warn?.(
      `${n} of ${imageRef} left out of the Apptainer definition, a key there being letters, digits, '.', '_' and '-' only: ${dropped.map((k) => printable(k)).join(', ')}.`,
    );
  }
  if (kept.length) {
    lines.push('%labels', ...kept.map(([k, v]) => `    ${k} ${v}`), '');
  }
  if (setupScript) {
    lines.push(
      '%environment',
      '    # The release environment in every shell, as in the Docker image (apptainer sources this with /bin/sh).',
      `    if [ -f ${shellQuote(setupScript)} ]; then . ${shellQuote(setupScript)} >/dev/null 2>&1 || true; fi`,
      '',
    );
  }
  const model = readModelLabels(i.labels);
  const commit = revision ? ` from commit ${revision.slice(0, 12)}${provenance.dirty ? ' with uncommitted changes' : ''}` : '';
  if (!model) {
    lines.push(
      '%help',
      `    Experiment image ${imageRef}${commit}, exported by ML Containers.`,
      '    GPUs: apptainer exec --nv IMAGE.sif python train.py   (binds the host NVIDIA driver)',
      '    CPU:  apptainer exec IMAGE.sif python train.py',
      '',
    );
    return lines.join('\n');
  }
  const serves = i.image !== undefined && imageServes(i.image);
  if (serves) {
    // The image's CMD listens on 0.0.0.0, which under Docker is the container's own network. Apptainer shares the
    // host's, so `apptainer run` serves on 127.0.0.1 unless MLC_SERVE_HOST says otherwise; the token comes from
    // MLC_SERVE_TOKEN (APPTAINERENV_MLC_SERVE_TOKEN under --cleanenv), without which the server does not start.
    const name = shellQuote(servedModelName(imageRef, i.image!));
    lines.push(
      '%runscript',
      `    if command -v python3 >/dev/null 2>&1; then exec python3 ${SERVER_PATH} --name ${name} "$@"; fi`,
      `    exec python ${SERVER_PATH} --name ${name} "$@"`,
      '',
    );
  }
  lines.push(
    '%help',
    `    Model image ${imageRef}${model.run ? ` of run ${model.run}` : ''}${commit}, exported by ML Containers: the model in ${MODEL_DIR}, its card.json beside it.`,
    ...(serves
      ? [
          `    Serve (Open Inference Protocol V2 REST on 127.0.0.1:${SERVE_PORT}; --port P, MLC_SERVE_HOST to listen elsewhere):`,
          '        APPTAINERENV_MLC_SERVE_TOKEN=<a secret> apptainer run [--nv] IMAGE.sif',
          `    Predict in a job: apptainer exec [--nv] IMAGE.sif python3 SCRIPT.py, importing load and predict from ${PREDICT_PATH}`,
        ]
      : // Without the image's CMD (a Slurm task's .def) whether it serves is not known here, and not needed: tasks exec.
        i.image
        ? ['    It carries no server (saved without a predict.py): apptainer exec [--nv] IMAGE.sif python3 SCRIPT.py']
        : []),
    '',
  );
  return lines.join('\n');
}

/** The command that builds the .sif from the definition (needs apptainer, or singularity, on PATH). */
export function apptainerBuildCommand(tool: 'apptainer' | 'singularity', def: string, sif: string): string[] {
  return [tool, 'build', sif, def];
}
