// What may be exported and under which name, apart from any shell: `mlc export` asks these, and a VS Code command
// can ask the same and show the same answer.
import { createHash } from 'node:crypto';
import { UserError } from '../errors';
import { readProvenance } from '../labels';
import type { Catalog } from '../scaffold/catalog';

type Labels = Readonly<Record<string, string>>;

export class UncommittedImageError extends UserError {
  constructor(
    readonly imageRef: string,
    readonly revision: string | undefined,
  ) {
    super(
      `${imageRef} was built from uncommitted changes, so its commit ${revision?.slice(0, 7) ?? ''} does not say what code the cluster would run: commit, rebuild (mlc build) and push, or pass --allow-dirty.`,
    );
    this.name = 'UncommittedImageError';
  }
}

/** Refuses an image built from uncommitted changes unless allowDirty: its commit does not name the code in it. */
export function assertCommitted(imageRef: string, labels: Labels, allowDirty: boolean): void {
  const provenance = readProvenance(labels);
  if (provenance.dirty && !allowDirty) throw new UncommittedImageError(imageRef, provenance.revision);
}

/**
 * A note when the hyper-parameter file given to the job (`name`, as the user gave it) is not the one the image
 * recorded at build time; undefined when it is, or when the image recorded none.
 */
export function configMismatchNote(imageRef: string, name: string, content: string, labels: Labels): string | undefined {
  const { configSha256, configPath } = readProvenance(labels);
  if (!configSha256 || configSha256 === createHash('sha256').update(content).digest('hex')) return undefined;
  return `note: ${name} is not the config ${imageRef} was built with (${configPath ?? 'see its labels'}); the job gets ${name}.`;
}

/** The release setup script of the image's preset (ATLAS AnalysisBase's), which the .def sources in every shell. */
export function presetSetupScript(labels: Labels, catalog: Catalog | undefined): string | undefined {
  const { preset } = readProvenance(labels);
  return preset ? catalog?.presets.find((p) => p.id === preset)?.setupScript : undefined;
}

/** `<name>_<tag>.def` for an image reference: its last path part, with `:` and `@` as `_`. */
export function apptainerDefFileName(imageRef: string): string {
  return `${imageRef
    .replace(/^.*\//, '')
    .replace(/[:@]/g, '_')
    .replace(/[^\w.-]/g, '-')}.def`;
}
