// Engine responses are JSON we validate where they enter: these coerce a field or refuse the whole answer.
import { isRecord } from '../../json';
import { EngineError } from '../errors';

export function record(raw: unknown, what: string): Record<string, unknown> {
  if (!isRecord(raw)) {
    throw new EngineError(`The Docker engine sent an unexpected ${what} response.`, 'api');
  }
  return raw;
}

export function str(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
}

export function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

export function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isRecord(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string') {
        out[k] = v;
      }
    }
  }
  return out;
}
