/** The one type guard for JSON objects crossing a boundary (engine answers, devcontainer.json, YAML). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
