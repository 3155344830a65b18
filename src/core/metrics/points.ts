import { openRunFileForRead } from '../untrustedFile';

/**
 * How much of a metric file a reader may read: the run folder is the container's, and a file there can be huge or
 * sparse. Every read of a metric file asks `allowance` first and reports with `consumed`.
 */
export interface ReadBudget {
  /** The run folder the files are under: each is opened there without following a link (core/run/runFolder.ts). */
  readonly root: string;
  /** Bytes the next file may take (the per-file cap, or what is left of the run's). */
  allowance(): number;
  /** `bytes` of `file` were read; `cut` when the allowance ended the read before the file did. */
  consumed(file: string, bytes: number, cut: boolean): void;
}

/** Where each reader puts what it reads: one call per value, and one per malformed line, row or record. */
export interface PointSink extends ReadBudget {
  point(name: string, step: number, value: number): void;
  skip(): void;
  has(name: string): boolean;
}

// Python writes float('nan') as `NaN` in json.dumps and as `nan` in csv and str(); both sides spell infinity two ways.
const SPECIAL: Record<string, number> = {
  nan: NaN,
  inf: Infinity,
  '+inf': Infinity,
  '-inf': -Infinity,
  infinity: Infinity,
  '+infinity': Infinity,
  '-infinity': -Infinity,
};

/** A CSV/TSV cell or a JSON string as a number: decimal, or NaN/Infinity spelled as Python or JavaScript do. */
export function parseNumberText(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const special = SPECIAL[t.toLowerCase()];
  if (special !== undefined) return special;
  // Number('') and Number('0x10') are numbers; a metric cell is only ever a decimal.
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
  return Number(t);
}

/**
 * A JSON value as a metric value: a number, or the strings "NaN", "Infinity", "-Infinity" (the form run records use,
 * and what `parseJsonLoose` makes of Python's bare tokens). Anything else is not a metric.
 */
export function jsonValueNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^[+-]?(nan|inf|infinity)$/i.test(value)) return parseNumberText(value);
  return undefined;
}

/**
 * JSON.parse, falling back to reading Python's `json.dumps` output, which writes NaN, Infinity and -Infinity as bare
 * tokens; they become the strings "NaN", "Infinity", "-Infinity". Undefined when the text is not JSON either way.
 */
export function parseJsonLoose(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    if (!/NaN|Infinity/.test(text)) return undefined;
  }
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    const token = /^(-?Infinity|NaN)/.exec(text.slice(i, i + 9))?.[1];
    if (token) {
      out += `"${token}"`;
      i += token.length - 1;
    } else {
      out += c;
    }
  }
  try {
    return JSON.parse(out);
  } catch {
    return undefined;
  }
}

/**
 * The numbers of a JSON object, nested objects flattened with `/` (`{"train": {"loss": 1}}` gives `train/loss`),
 * as DVCLive names them. Arrays, strings and booleans are not metrics and are passed over.
 */
export function flattenNumbers(
  value: Record<string, unknown>,
  onNumber: (name: string, n: number) => void,
  skipTopLevel?: string,
  prefix = '',
  depth = 0,
): void {
  for (const [key, v] of Object.entries(value)) {
    if (!prefix && key === skipTopLevel) continue;
    const name = prefix + key;
    const n = jsonValueNumber(v);
    if (n !== undefined) onNumber(name, n);
    else if (isPlainObject(v) && depth < 16) flattenNumbers(v, onNumber, undefined, `${name}/`, depth + 1);
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The shortest decimal that is the same float32: TensorBoard stores scalars as float32, and 0.3 read back as a
 * double is 0.30000001192092896; numpy shows it as 0.3, and so do we. The value itself does not change.
 */
export function shortestFloat32(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 1; p < 9; p++) {
    const candidate = Number(v.toPrecision(p));
    if (Math.fround(candidate) === v) return candidate;
  }
  return v;
}

const MAX_LINE_BYTES = 1 << 20;

/**
 * Calls onLine for each line of a file, read in chunks so that memory stays flat whatever the file's size, and no
 * further than the budget allows (a line the cap cuts is not given). A line longer than 1 MiB is not held:
 * onTooLong is called once for it instead. A trailing '\r' is removed. The one place the line formats (metrics.jsonl,
 * Lightning CSV, DVCLive TSV) open a file.
 */
export async function forEachLine(file: string, budget: ReadBudget, onLine: (line: string) => void, onTooLong: () => void): Promise<void> {
  const allowance = budget.allowance();
  if (allowance <= 0) return budget.consumed(file, 0, true);
  let total = 0;
  let cut = false;
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let dropping = false;
  const emit = (buf: Buffer, start: number, end: number): void => {
    if (end > start && buf[end - 1] === 13) end--;
    onLine(buf.toString('utf8', start, end));
  };
  // One byte past the allowance says whether the file goes on.
  const handle = await openRunFileForRead(file, budget.root);
  for await (const whole of handle.createReadStream({ highWaterMark: 1 << 20, end: allowance }) as AsyncIterable<Buffer>) {
    let chunk = whole;
    if (total + chunk.length > allowance) {
      chunk = chunk.subarray(0, allowance - total);
      cut = true;
    }
    total += chunk.length;
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      if (dropping) {
        dropping = false;
      } else if (carryBytes > 0) {
        carry.push(chunk.subarray(start, nl));
        const line = Buffer.concat(carry);
        emit(line, 0, line.length);
      } else {
        emit(chunk, start, nl);
      }
      carry = [];
      carryBytes = 0;
      start = nl + 1;
    }
    if (dropping || start === chunk.length) continue;
    carryBytes += chunk.length - start;
    if (carryBytes > MAX_LINE_BYTES) {
      dropping = true;
      carry = [];
      carryBytes = 0;
      onTooLong();
    } else {
      carry.push(chunk.subarray(start));
    }
  }
  if (carryBytes > 0 && !cut) {
    const line = Buffer.concat(carry);
    emit(line, 0, line.length);
  }
  budget.consumed(file, total, cut);
}
