/** What the Dockerfile ARG syntax accepts as a name. */
const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `KEY=VALUE` strings (`mlc build --build-arg`, like `docker build`) into a record; a bad entry throws. */
export function parseBuildArgList(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    if (eq < 0 || !ARG_NAME.test(name)) {
      throw new Error(
        `--build-arg ${JSON.stringify(entry)}: expected NAME=VALUE, e.g. BASE_IMAGE=registry.example.org/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime`,
      );
    }
    out[name] = entry.slice(eq + 1);
  }
  return out;
}

/** A settings object of build args, checked where it enters: string values under valid ARG names only. */
export function checkBuildArgs(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('expected an object of NAME: "value" pairs');
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    if (!ARG_NAME.test(name)) throw new Error(`${JSON.stringify(name)} is not a build arg name`);
    if (typeof v !== 'string') throw new Error(`${name} must be a string`);
    out[name] = v;
  }
  return out;
}
