// What a caller asks of a build. A file of its own because every phase of the build reads its part of it, and the
// phases sit below buildExperiment.ts, which calls them.
import type { Engine } from '../docker/engine';
import type { ResolvedAuth } from '../docker/registryAuth';
import type { FeatureDownloader } from '../features/resolve';
import type { Logger } from '../log';
import type { GitProvider } from '../provenance/git';
import type { ContextFinding } from './contextCheck';

export interface BuildExperimentOptions {
  folder: string;
  /** devcontainer.json, relative to folder; default .devcontainer/devcontainer.json. */
  devcontainer?: string;
  /** A hyper-parameter YAML whose path and hash go into the labels. */
  hyperparameters?: string;
  engine: Engine;
  git: GitProvider;
  log: Logger;
  onStep?: (step: string) => void;
  signal?: AbortSignal;
  now?: () => Date;
  /**
   * Capture the environment lock (`pip freeze`, `conda list --export`) after the build (default true): into the
   * image at IMAGE_LOCK_PATH, as a layer of its own, and into .mlcontainers/locks/.
   */
  lock?: boolean;
  /** Warn when the context is bigger than this; default 500 MB. */
  contextWarnBytes?: number;
  /** Refuse to build (LeakyContextError) when the context holds a secret-looking or a single huge file. */
  strict?: boolean;
  /**
   * Called once, before anything is sent, with what the context should not hold (never called when it is clean);
   * each finding is also a warning in the log, with its .dockerignore line.
   */
  onContextFindings?: (findings: readonly ContextFinding[], contextRoot: string) => void;
  /** Build args that win over devcontainer.json's build.args, e.g. BASE_IMAGE pointing at a site mirror. */
  buildArgs?: Readonly<Record<string, string>>;
  /**
   * The user's credentials for a registry (the docker CLI's: config.json, credential helpers), for base images
   * in private registries. Without it, images are pulled anonymously.
   */
  registryAuth?: (host: string, signal?: AbortSignal) => Promise<ResolvedAuth>;
  /** How OCI and tarball Features are fetched; default: the registry's HTTP API and https. */
  featureDownloader?: FeatureDownloader;
}
