// Hyper-parameter YAML → the configs of a sweep: every list-valued key is an axis, the grid is their product.
import type * as Yaml from 'yaml';
import { UserError } from '../errors';
import { loadYaml } from '../yaml';
import { INPUTS_KEY, parseInputs } from './inputs';
import { OUTPUTS_KEY, parseOutputs } from './outputs';

export class ConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface SweepAxis {
  /** "optimizer.lr": the key's path through nested mappings. */
  key: string;
  path: (string | number)[];
  size: number;
}

export interface SweepPoint {
  /** 0-based position in the grid. */
  index: number;
  /** The values of the axes that vary at this point ("optimizer.lr" → 0.001); empty without a sweep. */
  params: Record<string, unknown>;
  /** The config the run sees: the user's text with each list replaced by one of its values, comments kept. */
  text: string;
}

export interface ExpandedConfig {
  axes: SweepAxis[];
  points: SweepPoint[];
  /** Likely mistakes that still make a valid grid (a repeated value), one sentence each. */
  warnings: string[];
}

/** A typo such as a 100-element list should not start 100 × 100 containers. */
export const MAX_SWEEP_POINTS = 1000;

/**
 * Expands a hyper-parameter file. A list anywhere in its mappings is a sweep axis over its elements; to pass a list
 * as a single value, wrap it in one more list (`layers: [[64, 64]]`). Lists inside lists are values, not axes, and
 * so are the top-level `outputs:` (the files the run keeps) and `inputs:` (the data it reads), checked here.
 * Without lists the one point's text is the file's text byte for byte, so its sha256 is the file's.
 */
export function expandConfig(text: string, file: string): ExpandedConfig {
  const yaml = loadYaml();
  const doc = yaml.parseDocument(text, { prettyErrors: true });
  const error = doc.errors[0];
  if (error) {
    throw new ConfigError(`${file} is not valid YAML: ${error.message.split('\n')[0] ?? ''} Fix it and run again.`);
  }
  if (!yaml.isMap(doc.contents)) {
    throw new ConfigError(
      `${file} must be a mapping of hyper-parameters (key: value lines), not ${doc.contents ? 'a list or a single value' : 'empty'}.`,
    );
  }

  const axes: (SweepAxis & { values: Yaml.Node[] })[] = [];
  const warnings: string[] = [];
  const walk = (map: Yaml.YAMLMap, path: (string | number)[]): void => {
    for (const pair of map.items) {
      const key = yaml.isScalar(pair.key) ? pair.key.value : pair.key;
      if (typeof key !== 'string' && typeof key !== 'number') continue;
      const here = [...path, key];
      // What the run keeps (core/run/outputs.ts), not a hyper-parameter: its list is never an axis.
      if (!path.length && key === OUTPUTS_KEY) {
        parseOutputs(yaml.isNode(pair.value) ? pair.value.toJSON() : pair.value, file);
        continue;
      }
      // The data the run reads (core/run/inputs.ts), not a hyper-parameter either.
      if (!path.length && key === INPUTS_KEY) {
        parseInputs(yaml.isNode(pair.value) ? pair.value.toJSON() : pair.value, file);
        continue;
      }
      if (yaml.isMap(pair.value)) {
        walk(pair.value, here);
      } else if (yaml.isSeq(pair.value)) {
        const name = here.join('.');
        const values = pair.value.items.filter((v): v is Yaml.Node => yaml.isNode(v));
        if (!values.length)
          throw new ConfigError(`${file}: ${name} is an empty list, so the sweep has nothing to run. Give it values, or remove it.`);
        const seen = new Set<string>();
        for (const v of values) {
          const json = JSON.stringify(v.toJSON());
          if (seen.has(json)) {
            warnings.push(
              `${file}: ${name} lists ${json} more than once, so runs repeat; to pass a list as one value, wrap it: [[${values.map((x) => JSON.stringify(x.toJSON())).join(', ')}]].`,
            );
            break;
          }
          seen.add(json);
        }
        axes.push({ key: name, path: here, size: values.length, values });
      }
    }
  };
  walk(doc.contents, []);

  const total = axes.reduce((n, a) => n * a.size, 1);
  if (total > MAX_SWEEP_POINTS) {
    throw new ConfigError(
      `${file} expands to ${total} runs (${axes.map((a) => `${a.key}: ${a.size}`).join(' × ')}), more than ${MAX_SWEEP_POINTS}: shorten the lists, or split the sweep into several files.`,
    );
  }
  if (!axes.length) return { axes: [], points: [{ index: 0, params: {}, text }], warnings };

  const points: SweepPoint[] = [];
  for (let index = 0; index < total; index++) {
    const point = doc.clone();
    const params: Record<string, unknown> = {};
    // The last axis varies fastest, like nested loops written in file order.
    let rest = index;
    for (let a = axes.length - 1; a >= 0; a--) {
      const axis = axes[a]!;
      const value = axis.values[rest % axis.size]!;
      rest = Math.floor(rest / axis.size);
      point.setIn(axis.path, value.clone());
      params[axis.key] = value.toJSON();
    }
    // A one-value list is a wrapped value, not something the sweep varies.
    const ordered = Object.fromEntries(axes.filter((a) => a.size > 1).map((a) => [a.key, params[a.key]]));
    points.push({ index, params: ordered, text: point.toString() });
  }
  return { axes: axes.map(({ key, path, size }) => ({ key, path, size })), points, warnings };
}

/** "optimizer.lr=0.001 batch_size=32": a sweep point in one line. */
export function formatParams(params: Readonly<Record<string, unknown>>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}
