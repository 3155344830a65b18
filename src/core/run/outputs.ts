// `outputs:` in the hyper-parameter YAML: the files a run leaves in its folder that are worth keeping (a model), as
// names or globs relative to the run folder. `mlc model save` reads them from the config the run saw (its record), so
// they are checked when the run is planned, and again when they are read back: a record can be edited.
import { compileGlob } from '../docker/dockerignore';
import { UserError } from '../errors';
import { hasControlCharacter, printable } from '../generatedText';
import { loadYaml } from '../yaml';

/** The top-level key; its list is what the run keeps, not a sweep axis. */
export const OUTPUTS_KEY = 'outputs';

/** An `outputs:` that is not a list of files in the run folder; the sentence says what to write. */
export class OutputsError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'OutputsError';
  }
}

/** More patterns than this is not a list of artifacts. */
export const MAX_OUTPUTS = 64;

/**
 * Why `pattern` is not an output pattern, or undefined when it is one: a relative path with forward slashes, no
 * `.` or `..` part, no empty part, no control character, `*`, `?`, `[…]` and `**` as in .dockerignore.
 */
export function outputPatternProblem(pattern: string): string | undefined {
  if (!pattern) return 'it is empty';
  if (pattern.length > 1024) return 'it is longer than 1024 characters';
  if (hasControlCharacter(pattern)) return 'it holds a control character';
  if (pattern.includes('\\')) return 'it holds a backslash (write folders with /)';
  if (pattern.startsWith('/')) return 'it is absolute (name files relative to the run folder, e.g. model.pt)';
  const parts = pattern.split('/');
  if (parts.includes('..')) return 'it climbs out of the run folder with ..';
  if (parts.includes('.')) return 'it has a . part (write model.pt, not ./model.pt)';
  if (parts.includes('')) return 'it has an empty part (// or a trailing /)';
  try {
    compileGlob(pattern);
  } catch {
    return 'it has a [ without its ]';
  }
  return undefined;
}

/** Whether the pattern names one file rather than matching several. */
export function isLiteralOutput(pattern: string): boolean {
  return !/[*?[]/.test(pattern);
}

/**
 * The patterns `value` (what the YAML holds under `outputs:`) lists: one name or a list of names. Throws OutputsError
 * with a sentence saying what to write when it is not that; `where` names the value in it (default `<file>: outputs`).
 */
export function parseOutputs(value: unknown, file: string, where = `${file}: ${OUTPUTS_KEY}`): string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.length || list.some((v) => typeof v !== 'string')) {
    throw new OutputsError(`${where} must be a file name or a list of them, relative to the run folder (outputs: [model.pt]).`);
  }
  if (list.length > MAX_OUTPUTS)
    throw new OutputsError(`${where} lists ${list.length} patterns, more than ${MAX_OUTPUTS}: use a glob (checkpoints/*.pt).`);
  for (const p of list as string[]) {
    const problem = outputPatternProblem(p);
    if (problem)
      throw new OutputsError(
        `${where} entry ${printable(p)} is not a file in the run folder (${problem}): write a relative name such as model.pt.`,
      );
  }
  return [...new Set(list as string[])];
}

/** The `outputs:` of a config's text (as a run record keeps it); undefined when it has none or is not YAML. */
export function configOutputs(text: string, file: string): string[] | undefined {
  let doc: unknown;
  try {
    doc = loadYaml().parse(text) as unknown;
  } catch {
    return undefined;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !Object.hasOwn(doc, OUTPUTS_KEY)) return undefined;
  return parseOutputs((doc as Record<string, unknown>)[OUTPUTS_KEY], file);
}
