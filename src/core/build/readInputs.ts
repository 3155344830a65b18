// Phase 1 of a build: everything it is decided from, read — devcontainer.json and what it builds from, the build
// args, the Features, the Dockerfile, git, what the engine is and what it has of the base image. The context is
// scanned meanwhile; it is needed only when the context is sent.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ContextScan } from '../docker/buildContext';
import { scanContext } from '../docker/buildContext';
import { projectFeatures } from '../features/features';
import type { ResolvedFeature } from '../features/resolve';
import { isRecord } from '../json';
import { openProject } from '../project';
import { tryParseReference } from '../reference';
import type { BuildSource, PlanInputs } from './buildPlan';
import { GENERATED_DOCKERFILE } from './buildPlan';
import { BuildFailedError } from './errors';
import type { BuildExperimentOptions } from './options';
import { pulledImages } from './pulledImages';

export interface BuildInputs extends PlanInputs {
  /** devcontainer.json relative to the folder, with forward slashes, as the log names it. */
  configRel: string;
  features: ResolvedFeature[];
  /** The images the Dockerfile pulls, for their registries' credentials. */
  pulled: string[];
  /** The exact context, still being scanned: a folder's, or an image config's generated Dockerfile alone. */
  context: Promise<ContextScan>;
}

export async function readInputs(o: BuildExperimentOptions): Promise<BuildInputs> {
  const log = o.log;
  const project = await openProject(o.folder, { devcontainer: o.devcontainer });
  const folder = project.folder;
  const configPath = project.devcontainerPath;
  const config = project.config;
  if (!config) {
    throw new BuildFailedError(`${path.relative(folder, configPath)} not found: run "New ML Environment" (mlc init) first.`, '', []);
  }
  const configRel = path.relative(folder, configPath).split(path.sep).join('/');
  const others = project.candidates.filter((c) => c !== configRel);
  if (others.length) log.info(`building ${configRel}; this folder also has ${others.join(', ')} (choose with --devcontainer)`);
  const source = buildSource(config, configPath, folder);
  const build = isRecord(config.build) ? config.build : undefined;
  if (source.kind === 'image' && o.buildArgs && Object.keys(o.buildArgs).length) {
    log.info(`build args ${Object.keys(o.buildArgs).join(', ')} not used: ${configRel} names an image, not a Dockerfile`);
  }
  const buildArgs =
    source.kind === 'image'
      ? {}
      : {
          ...(isRecord(build?.args)
            ? Object.fromEntries(Object.entries(build.args).filter((e): e is [string, string] => typeof e[1] === 'string'))
            : {}),
          ...o.buildArgs,
        };
  // Resolved before anything builds, so a Feature that cannot be had stops the build at once.
  const features = await projectFeatures(config, path.dirname(configPath), {
    ...(o.featureDownloader ? { download: o.featureDownloader } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  if (features.length) log.info(`Features, in installation order: ${features.map((f) => f.userId).join(', ')}`);

  const asked = Promise.all([
    o.git.info(folder, o.signal),
    o.engine.ping(o.signal),
    // An image config's Dockerfile is the image and nothing else, built in an empty context (nothing of the folder
    // goes in); the build adds the labels (and the lock layer).
    source.kind === 'dockerfile' ? fs.readFile(source.dockerfile, 'utf8') : `FROM ${source.image}\n`,
  ]);
  // The context is scanned while git and the engine answer (git runs in a process of its own): asked
  // first, since the scan's synchronous stretches would hold the requests back.
  const scanning =
    source.kind === 'dockerfile' ? scanContext(source.contextDir, path.relative(source.contextDir, source.dockerfile)) : undefined;
  scanning?.catch(() => undefined);
  const [git, engine, dockerfileText] = await asked;
  if (!git) {
    log.warn(`${folder} is not a git repository (or has no commit yet): tags use a timestamp and the image records no revision.`);
  }

  let hyperparameters: PlanInputs['hyperparameters'];
  if (o.hyperparameters) {
    const file = path.resolve(folder, o.hyperparameters);
    const text = await fs.readFile(file).catch(() => {
      throw new BuildFailedError(`Hyper-parameter file ${o.hyperparameters} not found.`, '', []);
    });
    hyperparameters = {
      path: path.relative(folder, file).split(path.sep).join('/'),
      sha256: createHash('sha256').update(text).digest('hex'),
    };
  }

  const pulled = pulledImages(dockerfileText, buildArgs);
  // What the image starts from: the BASE_IMAGE argument, else the Dockerfile's one image (several: no single base).
  const baseRef = buildArgs.BASE_IMAGE || (pulled.length === 1 ? pulled[0] : undefined);
  // A base already on the engine is the one the build uses (nothing pulls it again); one BuildKit pulls is
  // resolved while building, and stamped on after.
  const base = baseRef ? { ref: baseRef, image: await o.engine.inspectImage(baseRef, o.signal).catch(() => undefined) } : undefined;

  return {
    folder,
    configPath,
    configRel,
    config,
    rawConfig: project.rawConfig ?? config,
    source,
    dockerfileText,
    buildArgs,
    base,
    imageName: project.imageName,
    git,
    hyperparameters,
    features,
    lock: o.lock !== false,
    engine,
    now: (o.now ?? (() => new Date()))(),
    stampSuffix: randomBytes(4).toString('hex'),
    pulled,
    context: scanning ?? Promise.resolve(generatedContext(configPath, dockerfileText)),
  };
}

/**
 * The spec's three ways a devcontainer.json says where its container comes from: build.dockerfile (or the older
 * dockerFile), image, or dockerComposeFile, which mlc refuses; paths resolved from the file's folder.
 */
export function buildSource(config: Record<string, unknown>, configPath: string, folder: string): BuildSource {
  const name = path.relative(folder, configPath).split(path.sep).join('/');
  if (config.dockerComposeFile !== undefined) {
    throw new BuildFailedError(
      `${name} uses dockerComposeFile, and mlc builds one image, not a Compose project: write a devcontainer.json with the service's build.dockerfile or image (e.g. in .devcontainer/<name>/) and build that with --devcontainer.`,
      '',
      [],
    );
  }
  const build = isRecord(config.build) ? config.build : undefined;
  const dockerfileRel =
    typeof build?.dockerfile === 'string' ? build.dockerfile : typeof config.dockerFile === 'string' ? config.dockerFile : undefined;
  const configDir = path.dirname(configPath);
  if (dockerfileRel) {
    return {
      kind: 'dockerfile',
      dockerfile: path.resolve(configDir, dockerfileRel),
      contextDir: path.resolve(configDir, typeof build?.context === 'string' ? build.context : '.'),
    };
  }
  if (typeof config.image === 'string') {
    // A reference, not a line of Dockerfile: it goes after FROM as it is.
    if (!tryParseReference(config.image.trim()))
      throw new BuildFailedError(`${name}: "${config.image}" is not an image reference; write one like python:3.12-slim.`, '', []);
    return { kind: 'image', image: config.image.trim() };
  }
  throw new BuildFailedError(`${name} names neither build.dockerfile nor image, so there is nothing to build: add one of them.`, '', []);
}

/** The context an image config sends: the generated Dockerfile alone. */
function generatedContext(configPath: string, dockerfileText: string): ContextScan {
  const size = Buffer.byteLength(dockerfileText);
  return {
    root: path.dirname(configPath),
    entries: [{ path: GENERATED_DOCKERFILE, type: 'file', size, mode: 0o644, mtimeMs: 0 }],
    totalBytes: size,
    skippedDirs: [],
  };
}
