// `mlc model save RUN`: a model image built FROM the run's image (pinned by the id its record names) with the run's
// artifacts and a card in MODEL_DIR, labelled with the same facts, tagged <name>:<run id>. The artifacts are files the
// run's container wrote, so they are opened as untrusted (core/untrustedFile.ts: no link, a plain file of the run's
// own, under the run folder), hashed through the handle, and packed from that same handle (context.ts).
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BuildProgress } from '../docker/buildProgress';
import { buildKitSupport } from '../docker/capabilities';
import { compileGlob } from '../docker/dockerignore';
import type { Engine } from '../docker/engine';
import type { BuildEvent } from '../docker/engine';
import { BuildError } from '../docker/engine';
import { buildWithSession } from '../docker/session/build';
import { UserError } from '../errors';
import { formatBytes } from '../format';
import { hasControlCharacter, printable } from '../generatedText';
import type { Logger } from '../log';
import { openProject } from '../project';
import { imageBaseName, imageName, shortImageId, tryParseReference } from '../reference';
import { configOutputs, isLiteralOutput, parseOutputs } from '../run/outputs';
import type { RunRecord } from '../run/records';
import { readRuns } from '../run/records';
import { RUN_DIR, assertRunFolder, isRunId, runFolder } from '../run/runFolder';
import { templatesDir } from '../scaffold/templateFiles';
import { kind, openRunFileForRead } from '../untrustedFile';
import type { ModelArtifact, ModelCard } from './card';
import {
  CARD_JSON,
  CARD_MARKDOWN,
  MAX_ARTIFACTS,
  MODEL_DIR,
  cardJson,
  cardMarkdown,
  labelInstruction,
  modelCard,
  modelLabels,
} from './card';
import type { HashedArtifact } from './context';
import { ArtifactChangedError, hashHandle, modelContext, packModelContext } from './context';
import { PREDICT_PATH, SERVER_PATH, readPredict, serveCmd } from './layout';

/** Where the model, the server and predict.py live in the image (MODEL_DIR and the server's paths are under it). */
const IMAGE_DIR = path.posix.dirname(MODEL_DIR);
/** That folder's place in the build context. */
const IN_CONTEXT = 'mlc';
const inContext = (imagePath: string): string => `${IN_CONTEXT}/${path.posix.relative(IMAGE_DIR, imagePath)}`;

/** A model that cannot be saved (or tagged); the sentence says what to do. */
export class ModelError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}

/** The most a model's artifacts may hold together: past it, the run folder is being packed, not a model. */
export const MAX_MODEL_BYTES = 64 * 1024 ** 3;
/** How much of a run folder a glob walks (entries, folder depth): a run could have made millions. */
const MAX_WALK_ENTRIES = 100_000;
const MAX_WALK_DEPTH = 16;

export interface SaveModelOptions {
  engine: Engine;
  /** The project folder whose .mlcontainers/runs.jsonl records the run. */
  workspace: string;
  run: string;
  /** The image repository; default: defaultModelName. */
  name?: string;
  /** Names or globs in the run folder (`--files`); default: the `outputs:` of the config the run saw. */
  files?: readonly string[];
  /** templates/, whose model/serve.py ships in the image beside the project's predict.py; default: templatesDir(). */
  templatesDir?: string;
  log: Logger;
  signal?: AbortSignal;
}

export interface SavedModel {
  imageId: string;
  name: string;
  /** `<name>:<run id>`. */
  tag: string;
  card: ModelCard;
  labels: Record<string, string>;
}

/** `<repository>-model`, from the reference the run used (its last component), else from the project. */
export async function defaultModelName(imageRef: string, workspace: string): Promise<string> {
  const ref = tryParseReference(imageRef);
  if (ref) return imageName(`${imageBaseName(imageRef)}-model`);
  const project = await openProject(workspace).then(
    (p) => p.imageName,
    () => imageName(path.basename(workspace)),
  );
  return imageName(`${project}-model`);
}

/** Why `name` cannot name a model's repository, or undefined: a repository without tag or digest. */
export function modelNameProblem(name: string): string | undefined {
  const ref = tryParseReference(name);
  if (!ref) return `${printable(name)} is not an image repository name: write lowercase letters, digits and - . _ (e.g. digits-model)`;
  if (ref.tag !== undefined || ref.digest !== undefined)
    return `--name takes a repository without a tag (${printable(name)}): the tag is the run id`;
  return undefined;
}

/** Builds the model image of a run; the artifacts stay open from hashing until they are packed. */
export async function saveModel(o: SaveModelOptions): Promise<SavedModel> {
  const record = await succeededRun(o.workspace, o.run);
  // The engine is asked first and both questions go at once: the answers travel while the config is read, and the
  // save is mostly waiting on round trips (bench/ row 8). Awaited below; a save stopped before then ignores them. The
  // ping goes first: the image call needs to know whether the engine is Podman, and takes that from the same ping.
  const pinged = o.engine.ping(o.signal);
  const asked = Promise.all([o.engine.inspectImage(record.image.id, o.signal), pinged]);
  asked.catch(() => undefined);
  // The record's copy of the config's `outputs:` where it has one, checked again: loading the YAML library was ~15 ms
  // of a save in a fresh process. Records older than that copy have the config read.
  const where = `the config of run ${record.id} (${record.config.path})`;
  const patterns = o.files?.length
    ? [...o.files]
    : record.outputs !== undefined
      ? record.outputs && parseOutputs(record.outputs, where)
      : configOutputs(record.config.content, where);
  if (!patterns?.length) {
    throw new ModelError(
      `Run ${record.id} names no artifact: pass the files with --files model.pt (names in ${runRel(record.id)}), or list them under outputs: in the experiment YAML for the runs to come.`,
    );
  }
  const [image, ping] = await asked;
  if (!image) {
    throw new ModelError(
      `The image run ${record.id} ran in (${shortImageId(record.image.id)}, ${printable(record.image.ref)}) is no longer on this engine, and a model is built FROM it: load that image again (docker load, or pull it), then save.`,
    );
  }
  const name = o.name ?? (await defaultModelName(record.image.ref, o.workspace));
  const problem = modelNameProblem(name);
  if (problem) throw new ModelError(`${problem}.`);
  const tag = `${name}:${record.id}`;
  const buildKit = buildKitSupport(ping).available;
  // BuildKit's FROM takes a name, not an image id: a tag of the run's image for the build, removed after. Named by
  // the run, so the Dockerfile (and the cache) is the same each time. Podman takes FROM <id> (see core/build/stamp.ts).
  // It is made while the artifacts are hashed, and awaited before the build.
  const fromTag = ping.isPodman ? undefined : `${name}:mlc-from-${record.id}`;
  const tagged = fromTag ? o.engine.tagImage(image.id, name, `mlc-from-${record.id}`, o.signal) : Promise.resolve();
  tagged.catch(() => undefined);

  const handles: FileHandle[] = [];
  try {
    const artifacts = await openArtifacts(o.workspace, record.id, patterns, handles);
    const card = modelCard(
      record,
      image.labels,
      artifacts.map(({ path: p, size, sha256 }) => ({ name: p, size, sha256 }) satisfies ModelArtifact),
    );
    const json = cardJson(card);
    const labels = modelLabels(card, createHash('sha256').update(json).digest('hex'));
    const total = artifacts.reduce((n, a) => n + a.size, 0);
    o.log.info(
      `run ${record.id}: ${artifacts.map((a) => `${a.path} (${formatBytes(a.size)})`).join(', ')} into ${MODEL_DIR}, FROM ${shortImageId(image.id)}`,
    );
    // The project's predict.py and our V2 server go in too, so the image serves by itself (mlc serve, KServe).
    const predict = await readPredict(path.join(o.workspace, 'predict.py'));
    const server = predict && (await fs.readFile(path.join(o.templatesDir ?? templatesDir(), 'model', 'serve.py')));
    o.log.info(
      predict
        ? 'predict.py and the model server go in too: the image serves by itself'
        : 'no predict.py in the project: the image carries no server, and `mlc serve` will want one (--predict FILE)',
    );

    await tagged;
    // One COPY of one folder laid out as the image's /opt/mlc: each step of a build costs the engine ~20 ms.
    const dockerfile = [
      `FROM ${fromTag ?? image.id}`,
      `COPY ${IN_CONTEXT}/ ${IMAGE_DIR}/`,
      ...(server ? [serveCmd()] : []),
      ...Object.entries(labels).map(([k, v]) => labelInstruction(k, v)),
      '',
    ].join('\n');
    const context = modelContext(
      [
        { path: 'Dockerfile', content: dockerfile },
        { path: inContext(`${MODEL_DIR}/${CARD_JSON}`), content: json },
        { path: inContext(`${MODEL_DIR}/${CARD_MARKDOWN}`), content: cardMarkdown(card) },
        ...(predict && server
          ? [
              { path: inContext(SERVER_PATH), content: server },
              { path: inContext(PREDICT_PATH), content: predict },
            ]
          : []),
      ],
      artifacts.map((a) => ({ ...a, path: inContext(`${MODEL_DIR}/${a.path}`) })),
    );
    // An artifact that changed under the build is the error to report, not the failed transfer it caused.
    let changed: Error | undefined;
    const open = async function* (p: string): AsyncGenerator<Buffer> {
      try {
        yield* context.open(p);
      } catch (e) {
        if (e instanceof ArtifactChangedError) changed = e;
        throw e;
      }
    };
    const progress = new BuildProgress();
    const onEvent = (event: BuildEvent): void => {
      for (const line of progress.push(event)) o.log.info(line);
    };
    let imageId: string;
    try {
      // Through a BuildKit session where the engine has one, as `docker build` sends a context (a tar upload makes
      // dockerode open a session of its own, and BuildKit unpack the tar in a step of its own); else a tar.
      const viaSession = buildKit
        ? await buildWithSession(o.engine, {
            // The name keys BuildKit's copy of its last sync, which asks again only for files whose size or mtime
            // changed; every entry is dated at the epoch, so the name carries the digest of every byte sent (a
            // predict.py edited to the same length would stay what it was otherwise). Never read from.
            scan: {
              root: path.join(runFolder(o.workspace, record.id), `.model-context-${context.digest.slice(0, 16)}`),
              entries: context.entries,
            },
            dockerfile: 'Dockerfile',
            open,
            request: { tags: [tag], buildKit },
            onEvent,
            ...(o.signal ? { signal: o.signal } : {}),
          })
        : undefined;
      imageId =
        viaSession?.imageId ??
        (await o.engine.build(
          packModelContext({ ...context, open }, (e) => (changed ??= e)),
          { tags: [tag], dockerfile: 'Dockerfile', buildKit },
          onEvent,
          o.signal,
        ));
    } catch (e) {
      if (changed instanceof UserError) throw changed;
      if (e instanceof BuildError) {
        const failure = progress.failure(e.message);
        throw new ModelError(`The model build failed at "${failure.step}": ${failure.error}`);
      }
      throw e;
    }
    o.log.info(`saved ${imageId} as ${tag} (${formatBytes(total)} of artifacts)`);
    return { imageId, name, tag, card, labels };
  } finally {
    // A tag that was never made is not removed; one made for a save that stopped early is.
    const untagged = fromTag
      ? tagged.then(
          () =>
            o.engine
              .removeImage(fromTag)
              .catch((e: unknown) => o.log.debug(`${fromTag} not removed: ${e instanceof Error ? e.message : String(e)}`)),
          () => undefined,
        )
      : undefined;
    await Promise.all([untagged, ...handles.map((h) => h.close().catch(() => undefined))]);
  }
}

/** The run's record, when it ended well; a sentence saying what to do otherwise. */
async function succeededRun(workspace: string, id: string): Promise<RunRecord> {
  if (!isRunId(id)) throw new ModelError(`${printable(id)} is not a run id: \`mlc runs\` lists the runs of this project.`);
  const record = (await readRuns(workspace)).runs.find((r) => r.id === id);
  if (!record)
    throw new ModelError(`No run ${id} in ${workspace}: \`mlc runs\` lists the runs of this project (pass its folder with --dir).`);
  if (record.status === 'running')
    throw new ModelError(
      `Run ${id} has not ended on record: wait for it (\`mlc logs -f ${id}\`), or run \`mlc runs\` to record one whose container is gone, then save it.`,
    );
  if (record.status !== 'succeeded') {
    const how = record.status === 'cancelled' ? 'was cancelled' : record.exitCode !== null ? `failed (exit ${record.exitCode})` : 'failed';
    throw new ModelError(
      `Run ${id} ${how}, and only a run that succeeded is saved as a model: save another run (\`mlc runs\` lists them), or run it again.`,
    );
  }
  return record;
}

function runRel(id: string): string {
  return `${path.join(RUN_DIR, id)}/`;
}

/**
 * The artifacts `patterns` name in the run's folder, each opened as untrusted and hashed; the handles go to `handles`
 * (closed by the caller). A pattern that names nothing, and anything that is not a plain file of the run's own, stops
 * the save with a sentence.
 */
async function openArtifacts(
  workspace: string,
  runId: string,
  patterns: readonly string[],
  handles: FileHandle[],
): Promise<HashedArtifact[]> {
  const dir = runFolder(workspace, runId);
  await fs.lstat(dir).catch(() => {
    throw new ModelError(`Run ${runId} has no folder (${runRel(runId)}): its files were removed, so there is nothing to save.`);
  });
  await assertRunFolder(workspace, runId);
  const names = await resolvePatterns(dir, runId, patterns);
  if (names.length > MAX_ARTIFACTS)
    throw new ModelError(
      `${patterns.join(', ')} name ${names.length} files in ${runRel(runId)}, more than the ${MAX_ARTIFACTS} a model holds: name the files themselves with --files.`,
    );
  const out: HashedArtifact[] = [];
  let total = 0;
  for (const name of names) {
    const subject = `${name} in ${runRel(runId)}`;
    if (name === CARD_JSON || name === CARD_MARKDOWN)
      throw new ModelError(
        `${subject} has the name of the model card beside the artifacts in ${MODEL_DIR}: have the run write it under another name.`,
      );
    if (hasControlCharacter(name) || name.length > 1024)
      throw new ModelError(
        `${printable(name)} in ${runRel(runId)} is not a name a model takes (a control character, or too long): have the run write the file under a plain name.`,
      );
    const st = await fs.lstat(path.join(dir, name)).catch(() => undefined);
    if (!st)
      throw new ModelError(
        `${subject} does not exist: check the name (ls ${runRel(runId)}) and pass the right one with --files, or have the run write it into $MLC_RUN_DIR.`,
      );
    if (st.isSymbolicLink())
      throw new ModelError(
        `${subject} is a link, and the host follows no link a run made: have the training code save the file itself into $MLC_RUN_DIR.`,
      );
    if (!st.isFile()) throw new ModelError(`${subject} is ${kind(st)}, not a regular file: name the files themselves (e.g. ${name}/*.pt).`);
    let handle: FileHandle;
    try {
      handle = await openRunFileForRead(path.join(dir, name), dir);
    } catch (e) {
      if (e instanceof UserError) throw new ModelError(`${e.message.replace(/\.$/, '')}; save a file the run wrote itself (--files).`);
      throw e;
    }
    handles.push(handle);
    const { sha256, size } = await hashHandle(handle);
    total += size;
    if (total > MAX_MODEL_BYTES)
      throw new ModelError(
        `The artifacts of run ${runId} pass ${formatBytes(MAX_MODEL_BYTES)}, more than a model image takes: name fewer files with --files.`,
      );
    out.push({ path: name, handle, size, sha256 });
  }
  return out;
}

/**
 * The files the patterns name, relative to the run folder, sorted: a name as it is, a glob by walking the folder
 * (never into a link; dot-files only when the pattern spells the dot). Links and other non-files that a glob matches
 * are kept, so that they are refused rather than skipped.
 */
export async function resolvePatterns(dir: string, runId: string, patterns: readonly string[]): Promise<string[]> {
  const names = new Set<string>();
  const globs = patterns.filter((p) => !isLiteralOutput(p));
  for (const p of patterns) if (isLiteralOutput(p)) names.add(p);
  if (globs.length) {
    const entries = await walk(dir, runId);
    for (const g of globs) {
      const matcher = compileGlob(g);
      const dotted = g.split('/').some((part) => part.startsWith('.'));
      const matched = entries.filter((e) => matcher.test(e) && (dotted || !e.split('/').some((part) => part.startsWith('.'))));
      if (!matched.length)
        throw new ModelError(
          `${g} matches no file in ${runRel(runId)}: check the names (ls ${runRel(runId)}) and pass the right ones with --files.`,
        );
      for (const m of matched) names.add(m);
    }
  }
  return [...names].sort();
}

/** Every entry under the run folder that is not a folder, relative; folders are entered, links never. */
async function walk(dir: string, runId: string): Promise<string[]> {
  const out: string[] = [];
  let seen = 0;
  const visit = async (rel: string, depth: number): Promise<void> => {
    const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    seen += entries.length;
    if (seen > MAX_WALK_ENTRIES)
      throw new ModelError(
        `${runRel(runId)} holds more than ${MAX_WALK_ENTRIES} entries, too many to match a glob against: name the files themselves with --files.`,
      );
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (depth < MAX_WALK_DEPTH) await visit(p, depth + 1);
      } else out.push(p);
    }
  };
  await visit('', 0);
  return out;
}
