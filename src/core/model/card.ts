// A model is a run's artifacts plus the run's image: this file says what a model image records about itself — the
// card (card.json and a short MODEL_CARD.md in MODEL_DIR) and the same facts as labels — and reads those labels back
// from any image, which may come from anywhere. Pure: the record, the training image's labels and the artifacts'
// digests in, text and labels out. Nothing here holds a time, so the same run saved twice makes the same image.
import { printable, singleLine } from '../generatedText';
import { isRecord } from '../json';
import { DIRTY_LABEL, LABEL_PREFIX, OCI_PREFIX, REVISION_LABEL, ROLE_LABEL, readProvenance } from '../labels';
import type { JsonNumber } from '../metrics/metrics';
import { metricsFromJson, nameMap, toJsonNumber } from '../metrics/metrics';
import { IMAGE_LOCK_PATH } from '../provenance/lock';
import type { RunCode, RunRecord } from '../run/records';
import { isRunId } from '../run/runFolder';
import type { DataInput } from '../run/inputs';
import { isDataInputList } from '../run/inputs';

/** The role label's value on model images (containers carry "run", "jupyter"). */
export const MODEL_ROLE = 'model';
/** The one folder of a model image that holds the artifacts and, beside them, the card. */
export const MODEL_DIR = '/opt/mlc/model';
export const CARD_JSON = 'card.json';
export const CARD_MARKDOWN = 'MODEL_CARD.md';
/** card.json's `schema`: bumped when a field changes meaning. */
export const CARD_SCHEMA = 'mlcontainers.model/v1';

const M = `${LABEL_PREFIX}.model`;
/** The label keys of a model image (beside ROLE_LABEL = "model" and the OCI revision). */
export const MODEL_LABELS = {
  run: `${M}.run`,
  sweep: `${M}.sweep`,
  sweepIndex: `${M}.sweep.index`,
  sweepSize: `${M}.sweep.size`,
  /** JSON: the sweep's values at this point. */
  params: `${M}.params`,
  /** JSON: each metric's last value. */
  metrics: `${M}.metrics`,
  /** The metric `mlc models` shows (headlineMetric). */
  headline: `${M}.headline`,
  commit: `${M}.commit`,
  dirty: `${M}.dirty`,
  code: `${M}.code`,
  configPath: `${M}.config.path`,
  configSha256: `${M}.config.sha256`,
  /** The training image, by id (what the model image is built FROM), the tag the run named, its base and digest. */
  imageId: `${M}.image.id`,
  imageRef: `${M}.image.ref`,
  base: `${M}.base`,
  baseDigest: `${M}.base.digest`,
  /** sha256 of the training image's environment lock (IMAGE_LOCK_PATH, inherited by the model image). */
  lockSha256: `${M}.lock.sha256`,
  /** JSON: [{name, sha256, size}], names relative to MODEL_DIR. */
  artifacts: `${M}.artifacts`,
  /** JSON: the data the run saw (core/run/inputs.ts: where, and each input's fingerprint). */
  data: `${M}.data`,
  dir: `${M}.dir`,
  /** sha256 of card.json as it is in the image. */
  cardSha256: `${M}.card.sha256`,
  /** JSON: the keys of labels left out for their size (card.json has them all). */
  cut: `${M}.labels.cut`,
} as const;

export const OCI_DESCRIPTION_LABEL = `${OCI_PREFIX}description`;

/** More artifacts than this is a run folder, not a model: name the files. */
export const MAX_ARTIFACTS = 256;
/**
 * A label whose LABEL line would pass this many bytes stays in card.json only: the Dockerfile parsers read a line
 * into a bounded buffer (64 KiB in moby's).
 */
export const MAX_LABEL_LINE = 32 * 1024;

export interface ModelArtifact {
  /** Relative to the run folder, and to MODEL_DIR in the image. */
  name: string;
  /** Hex. */
  sha256: string;
  size: number;
}

export interface ModelCard {
  schema: typeof CARD_SCHEMA;
  run: string;
  sweep: { id: string; index: number; size: number } | null;
  params: Record<string, unknown>;
  /** Each metric's last value, as the run's record summarised it. */
  metrics: Record<string, JsonNumber>;
  headline: string | null;
  commit: string | null;
  dirty: boolean;
  code: RunCode;
  config: { path: string; sha256: string };
  /** The training image: its id, the reference the run used, the base it was built FROM and that base's digest. */
  image: { id: string; ref: string; base: string | null; baseDigest: string | null };
  /** The training image's environment lock, which the model image carries at the same path. */
  environment: { lock: string; sha256: string } | null;
  artifacts: ModelArtifact[];
  /** The data the run saw, as its record names it (mounts and `inputs:`, fingerprinted); empty for older runs. */
  data: DataInput[];
}

const SHA256 = /^[0-9a-f]{64}$/;
const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;
const COMMIT = /^[0-9a-f]{7,64}$/;
const HELD_OUT = /^(val|valid|validation|test|eval)(?=[_./-]|$)/i;
const LOWER_BETTER = /loss|err|mse|mae|perplex/i;

/**
 * The metric a model is listed by: a held-out one (val…, test…, eval…) where there is one, a score before a loss,
 * else the first the run wrote. Undefined without metrics.
 */
export function headlineMetric(names: readonly string[]): string | undefined {
  const rank = (n: string): number => (HELD_OUT.test(n) ? 0 : 2) + (LOWER_BETTER.test(n) ? 1 : 0);
  return [...names].sort((a, b) => rank(a) - rank(b))[0];
}

/** The card of a run's model: its record, the training image's labels, the artifacts as hashed. */
export function modelCard(
  record: RunRecord,
  imageLabels: Readonly<Record<string, string>>,
  artifacts: readonly ModelArtifact[],
): ModelCard {
  const p = readProvenance(imageLabels);
  const summaries = metricsFromJson(record.metrics)?.metrics ?? nameMap();
  const metrics = nameMap(Object.entries(summaries).map(([name, s]) => [name, toJsonNumber(s.last)] as const));
  const sweep =
    record.sweep && isRunId(record.sweep.id) && Number.isInteger(record.sweep.index) && Number.isInteger(record.sweep.size)
      ? { id: record.sweep.id, index: record.sweep.index, size: record.sweep.size }
      : null;
  return {
    schema: CARD_SCHEMA,
    run: record.id,
    sweep,
    params: isRecord(record.params) ? { ...record.params } : {},
    // A plain object again (spread defines keys, so a metric named `__proto__` stays a key).
    metrics: { ...metrics },
    headline: headlineMetric(Object.keys(metrics)) ?? null,
    commit: typeof record.commit === 'string' && COMMIT.test(record.commit) ? record.commit : null,
    dirty: record.dirty === true,
    code: record.code === 'image' ? 'image' : 'workspace',
    config: { path: String(record.config.path), sha256: String(record.config.sha256) },
    image: { id: record.image.id, ref: record.image.ref, base: p.base ?? null, baseDigest: p.baseDigest ?? null },
    environment: p.lockSha256 && SHA256.test(p.lockSha256) ? { lock: IMAGE_LOCK_PATH, sha256: p.lockSha256 } : null,
    artifacts: [...artifacts]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((a) => ({ name: a.name, sha256: a.sha256, size: a.size })),
    data: isDataInputList(record.data) ? record.data.map((d) => ({ ...d })) : [],
  };
}

/** card.json's bytes: two-space JSON and a newline, keys in the card's order. */
export function cardJson(card: ModelCard): string {
  return `${JSON.stringify(card, null, 2)}\n`;
}

/**
 * The labels of a model image. The OCI revision is the run's commit (the code that made the model), not the training
 * image's; every other label of the training image is inherited as it is.
 */
export function modelLabels(card: ModelCard, cardSha256: string): Record<string, string> {
  const L = MODEL_LABELS;
  const labels: Record<string, string> = {
    [ROLE_LABEL]: MODEL_ROLE,
    [L.run]: card.run,
    [L.dirty]: String(card.dirty),
    [L.code]: card.code,
    [L.configPath]: card.config.path,
    [L.configSha256]: card.config.sha256,
    [L.imageId]: card.image.id,
    [L.imageRef]: card.image.ref,
    [L.dir]: MODEL_DIR,
    [L.cardSha256]: cardSha256,
    [REVISION_LABEL]: card.commit ?? '',
    [DIRTY_LABEL]: String(card.dirty),
    [OCI_DESCRIPTION_LABEL]: `the model of run ${card.run}: ${card.artifacts.map((a) => a.name).join(', ')} in ${MODEL_DIR}, with ${CARD_JSON}`,
  };
  if (card.sweep) {
    labels[L.sweep] = card.sweep.id;
    labels[L.sweepIndex] = String(card.sweep.index);
    labels[L.sweepSize] = String(card.sweep.size);
  }
  if (card.commit) labels[L.commit] = card.commit;
  if (card.headline) labels[L.headline] = card.headline;
  if (card.image.base) labels[L.base] = card.image.base;
  if (card.image.baseDigest) labels[L.baseDigest] = card.image.baseDigest;
  if (card.environment) labels[L.lockSha256] = card.environment.sha256;
  const cut: string[] = [];
  const json = (key: string, value: unknown): void => {
    const text = labelJson(value);
    if (Buffer.byteLength(labelInstruction(key, text)) <= MAX_LABEL_LINE) labels[key] = text;
    else cut.push(key);
  };
  json(L.params, card.params);
  json(L.metrics, card.metrics);
  json(L.artifacts, card.artifacts);
  json(L.data, card.data);
  if (cut.length) labels[L.cut] = labelJson(cut);
  return labels;
}

/**
 * The LABEL instruction that sets one label, quoted for the Dockerfile parser: `\\`, `"` and `$` escaped (no
 * variable is expanded), control characters as spaces (a value stays on its line). The labels go into the Dockerfile,
 * one instruction each in a fixed order, not into the build request: Podman's builder turns the request's labels
 * into LABEL steps in a different order each build, so nothing after them was ever cached and the same model got a
 * new image id every time.
 */
export function labelInstruction(key: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  const quoted = (v: string): string => `"${v.replace(/[\x00-\x1f\x7f]/g, ' ').replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
  return `LABEL ${quoted(key)}=${quoted(value)}`;
}

/**
 * Compact JSON with `$` escaped: Podman's builder expands `${…}` in label values (and refuses one it cannot), and
 * `\u0024` reads back as the same `$`.
 */
export function labelJson(value: unknown): string {
  return JSON.stringify(value).replace(/\$/g, '\\u0024');
}

/** MODEL_CARD.md: the card for a person, every value from the run on one line and escaped for a table. */
export function cardMarkdown(card: ModelCard): string {
  const cell = (v: unknown): string =>
    singleLine(typeof v === 'string' ? v : (JSON.stringify(v) ?? '')).replace(/[\\|`*_<>[\]]/g, (c) => `\\${c}`);
  const rows: [string, string][] = [
    ['run', card.run],
    ...(card.sweep ? [['sweep', `${card.sweep.id} (point ${card.sweep.index + 1} of ${card.sweep.size})`] as [string, string]] : []),
    ['commit', card.commit ? `${card.commit}${card.dirty ? ' (dirty: uncommitted changes)' : ''}` : 'none recorded'],
    ['config', `${card.config.path} sha256:${card.config.sha256}`],
    ['training image', `${card.image.id} (${card.image.ref})`],
    [
      'base',
      card.image.base || card.image.baseDigest
        ? `${card.image.base ?? '(unnamed)'}${card.image.baseDigest ? ` @ ${card.image.baseDigest}` : ''}`
        : 'not recorded',
    ],
    ['environment', card.environment ? `${card.environment.lock} sha256:${card.environment.sha256}` : 'no lock recorded'],
  ];
  const lines = [
    `# Model of run ${cell(card.run)}`,
    '',
    `Built by ML Containers FROM the run's image. The files below are in \`${MODEL_DIR}\`; \`${CARD_JSON}\` beside them holds the same facts as JSON (schema \`${CARD_SCHEMA}\`).`,
    '',
    '| | |',
    '| --- | --- |',
    ...rows.map(([k, v]) => `| ${k} | ${cell(v)} |`),
    '',
    '## Parameters',
    '',
    ...(Object.keys(card.params).length
      ? Object.entries(card.params).map(([k, v]) => `- ${cell(k)}: ${cell(v)}`)
      : ['none (not a sweep point)']),
    '',
    '## Final metrics',
    '',
    ...(Object.keys(card.metrics).length
      ? Object.entries(card.metrics).map(([k, v]) => `- ${cell(k)}: ${cell(v)}${k === card.headline ? ' (headline)' : ''}`)
      : ['none recorded']),
    '',
    '## Artifacts',
    '',
    '| file | bytes | sha256 |',
    '| --- | --- | --- |',
    ...card.artifacts.map((a) => `| ${cell(a.name)} | ${a.size} | ${a.sha256} |`),
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/** What a model image's labels say, each field checked; a field whose label is absent or malformed is left out. */
export interface ModelFacts {
  run?: string;
  sweep?: { id: string; index?: number; size?: number };
  params?: Record<string, unknown>;
  metrics?: Record<string, JsonNumber>;
  headline?: string;
  commit?: string;
  dirty: boolean;
  code?: RunCode;
  config?: { path: string; sha256?: string };
  image?: { id?: string; ref?: string };
  base?: string;
  baseDigest?: string;
  lockSha256?: string;
  artifacts?: ModelArtifact[];
  data?: DataInput[];
  dir?: string;
  cardSha256?: string;
  /** Labels left out for their size when the model was saved (their facts are in card.json). */
  cut?: string[];
}

/** The longest JSON label read back; an image from elsewhere may carry anything. */
const MAX_READ_JSON = 1024 * 1024;

/**
 * A model image's facts from its labels (the reverse of modelLabels), undefined when the image is not a model. The
 * image may come from any registry: ids, digests and hashes are checked by shape, JSON by structure, and strings are
 * kept as they are — whoever shows them escapes them (`shownValue`).
 */
export function readModelLabels(labels: Readonly<Record<string, string>> | undefined): ModelFacts | undefined {
  if (!labels || labels[ROLE_LABEL] !== MODEL_ROLE) return undefined;
  const L = MODEL_LABELS;
  const get = (key: string): string | undefined =>
    Object.hasOwn(labels, key) && typeof labels[key] === 'string' && labels[key] !== '' ? labels[key] : undefined;
  const json = (key: string): unknown => {
    const text = get(key);
    if (text === undefined || text.length > MAX_READ_JSON) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  };
  const shaped = (key: string, re: RegExp): string | undefined => {
    const v = get(key);
    return v !== undefined && re.test(v) ? v : undefined;
  };
  const facts: ModelFacts = { dirty: get(L.dirty) === 'true' };
  const run = get(L.run);
  if (isRunId(run)) facts.run = run;
  const sweep = get(L.sweep);
  if (isRunId(sweep)) {
    const n = (key: string): number | undefined => (/^\d{1,6}$/.test(get(key) ?? '') ? Number(get(key)) : undefined);
    const [index, size] = [n(L.sweepIndex), n(L.sweepSize)];
    facts.sweep = { id: sweep, ...(index !== undefined ? { index } : {}), ...(size !== undefined ? { size } : {}) };
  }
  const params = json(L.params);
  if (isRecord(params)) facts.params = params;
  const metrics = json(L.metrics);
  if (isRecord(metrics)) {
    const kept = Object.entries(metrics).filter(
      (e): e is [string, JsonNumber] =>
        (typeof e[1] === 'number' && Number.isFinite(e[1])) || e[1] === 'NaN' || e[1] === 'Infinity' || e[1] === '-Infinity',
    );
    facts.metrics = nameMap(kept);
  }
  const headline = get(L.headline);
  if (headline !== undefined) facts.headline = headline;
  const commit = shaped(L.commit, COMMIT);
  if (commit) facts.commit = commit;
  const code = get(L.code);
  if (code === 'workspace' || code === 'image') facts.code = code;
  const configPath = get(L.configPath);
  if (configPath !== undefined)
    facts.config = { path: configPath, ...(shaped(L.configSha256, SHA256) ? { sha256: get(L.configSha256)! } : {}) };
  const imageId = shaped(L.imageId, IMAGE_ID);
  const imageRef = get(L.imageRef);
  if (imageId || imageRef) facts.image = { ...(imageId ? { id: imageId } : {}), ...(imageRef !== undefined ? { ref: imageRef } : {}) };
  const base = get(L.base);
  if (base !== undefined) facts.base = base;
  const baseDigest = shaped(L.baseDigest, /^sha256:[0-9a-f]{64}$/);
  if (baseDigest) facts.baseDigest = baseDigest;
  const lock = shaped(L.lockSha256, SHA256);
  if (lock) facts.lockSha256 = lock;
  const artifacts = json(L.artifacts);
  if (Array.isArray(artifacts)) {
    facts.artifacts = artifacts
      .filter(
        (a): a is ModelArtifact =>
          isRecord(a) &&
          typeof a.name === 'string' &&
          typeof a.sha256 === 'string' &&
          SHA256.test(a.sha256) &&
          typeof a.size === 'number' &&
          Number.isSafeInteger(a.size) &&
          a.size >= 0,
      )
      .slice(0, MAX_ARTIFACTS)
      .map((a) => ({ name: a.name, sha256: a.sha256, size: a.size }));
  }
  const data = json(L.data);
  if (isDataInputList(data)) facts.data = data;
  const dir = get(L.dir);
  if (dir !== undefined) facts.dir = dir;
  const cardSha = shaped(L.cardSha256, SHA256);
  if (cardSha) facts.cardSha256 = cardSha;
  const cut = json(L.cut);
  if (Array.isArray(cut)) facts.cut = cut.filter((c): c is string => typeof c === 'string');
  return facts;
}

/**
 * A value from an image's labels as a terminal shows it: as it is when it holds only ordinary characters, else
 * quoted with every control and invisible character escaped (generatedText's `printable`), cut at `max`.
 */
export function shownValue(s: string, max = 200): string {
  return /^[\w .,:;=+@%/()[\]{}#~^!?'-]*$/.test(s) && s.length <= max ? s : printable(s, max);
}
