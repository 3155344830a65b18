import type { ImageDetails } from '../../src/core/docker/engine';
import { BASE_DIGEST_LABEL, BASE_LABEL, LOCK_SHA256_LABEL, REVISION_LABEL } from '../../src/core/labels';
import { cardJson, modelCard, modelLabels } from '../../src/core/model/card';
import { serveDockerfileLines } from '../../src/core/model/layout';
import type { RunRecord } from '../../src/core/run/records';
import { createHash } from 'node:crypto';
import { imageDetails } from './images';
import { startedRecord } from './runRecords';

export const MODEL_RUN = '20261205-095900-ab12-2';
export const MODEL_COMMIT = '3f2a1bc9d0e8aa11bb22cc33dd44ee55ff667788';
export const MODEL_ARTIFACT_SHA = 'e'.repeat(64);

/** The labels `mlc model save` gives the model of a succeeded sweep point (modelCard + modelLabels, as save.ts does). */
export function modelImageLabels(over: Partial<RunRecord> = {}): Record<string, string> {
  const summary = (last: number) => ({ source: 'metrics.jsonl', last, lastStep: 8, min: 0, max: 1, steps: 8, nans: 0 });
  const record = startedRecord(MODEL_RUN, {
    status: 'succeeded',
    exitCode: 0,
    commit: MODEL_COMMIT,
    dirty: false,
    config: { path: 'configs/experiment.yaml', sha256: 'b'.repeat(64), content: 'lr: 0.01\noutputs: [model.pt]\n' },
    params: { lr: 0.01 },
    sweep: { id: '20261205-095900-ab12', index: 1, size: 2 },
    metrics: { metrics: { train_loss: summary(0.12), val_acc: summary(0.9694) }, skipped: 0 } as unknown as RunRecord['metrics'],
    ...over,
  });
  const training = {
    [REVISION_LABEL]: '0000000000000000000000000000000000000001',
    [BASE_LABEL]: 'python:3.12-slim',
    [BASE_DIGEST_LABEL]: `sha256:${'d'.repeat(64)}`,
    [LOCK_SHA256_LABEL]: 'c'.repeat(64),
  };
  const card = modelCard(record, training, [{ name: 'model.pt', sha256: MODEL_ARTIFACT_SHA, size: 1234 }]);
  return { ...training, ...modelLabels(card, createHash('sha256').update(cardJson(card)).digest('hex')) };
}

/** The CMD a model image saved with a predict.py has: the one line save.ts's Dockerfile gives it. */
export const SERVING_CMD = JSON.parse(
  serveDockerfileLines()
    .find((l) => l.startsWith('CMD '))!
    .slice(4),
) as string[];

/** A saved model image as the engine shows it: tagged <name>:<run>, its CMD our server (a project with predict.py). */
export function modelImage(over: Partial<ImageDetails> = {}): ImageDetails {
  return imageDetails({
    id: `sha256:${'5a'.repeat(32)}`,
    repoTags: [`digits-model:${MODEL_RUN}`],
    repoDigests: [],
    labels: modelImageLabels(),
    cmd: SERVING_CMD,
    ...over,
  });
}
