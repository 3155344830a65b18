// Builds an experiment image in four phases, one file each: read the inputs (readInputs.ts), decide everything from
// them (buildPlan.ts, pure), send the context and run the build (runBuild.ts), finish the image with the Features
// and the lock (finishImage.ts).
import type { ContextScan } from '../docker/buildContext';
import type { GitInfo } from '../provenance/git';
import { planBuild } from './buildPlan';
import type { ContextFinding } from './contextCheck';
import { finishImage } from './finishImage';
import type { BuildExperimentOptions } from './options';
import { readInputs } from './readInputs';
import { runBuild } from './runBuild';

// Callers catch a failed build by this name, beside the function that throws it.
export { BuildFailedError } from './errors';

export interface BuildExperimentResult {
  imageId: string;
  tags: string[];
  labels: Record<string, string>;
  git: GitInfo | undefined;
  context: ContextScan;
  /** Secret-looking and huge files the context held (sent all the same: the build was not strict). */
  contextFindings: ContextFinding[];
  /** Bytes of the context sent to the engine: the tar, or the session's stats and the files BuildKit asked for. */
  contextBytesSent: number;
  /** How the context went: synced through a BuildKit session, or uploaded whole as a tar. */
  contextTransport: 'session' | 'tar';
  builder: 'buildkit' | 'classic';
  cachedSteps: string[];
}

/** Builds the workspace's devcontainer Dockerfile into an experiment image tagged and labelled with its commit. */
export async function buildExperiment(o: BuildExperimentOptions): Promise<BuildExperimentResult> {
  const inputs = await readInputs(o);
  const plan = planBuild(inputs);
  if (plan.builderNote) o.log[plan.builderNote.level](plan.builderNote.text);
  const built = await runBuild(o, inputs, plan);
  const finished = await finishImage(o, inputs, plan, built);
  return {
    imageId: finished.imageId,
    tags: plan.tags,
    labels: { ...plan.labels, ...finished.labels },
    git: inputs.git,
    context: built.context,
    contextFindings: built.contextFindings,
    contextBytesSent: built.contextBytesSent,
    contextTransport: built.contextTransport,
    builder: plan.builder,
    cachedSteps: built.cachedSteps,
  };
}
