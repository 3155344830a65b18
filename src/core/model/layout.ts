// What a model image holds besides its artifacts and card (MODEL_DIR, card.ts): our V2 server and the project's
// predict.py beside them, and the command that serves. Saving (save.ts) writes this layout; serving (serve.ts),
// batch prediction (predict.ts) and the exports (export/) read it. Nothing here talks to an engine.
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { ImageDetails } from '../docker/engine';
import { UserError } from '../errors';
import { formatBytes } from '../format';
import { imageBaseName, imageName, tryParseReference } from '../reference';
import { kind } from '../untrustedFile';
import { shownValue } from './card';

/** Where a model image keeps the server and the project's predict.py, beside MODEL_DIR. */
export const SERVER_PATH = '/opt/mlc/serve.py';
export const PREDICT_PATH = '/opt/mlc/predict.py';
/** The port inside the container: KServe's default for a custom predictor. */
export const SERVE_PORT = 8080;
/** The most a predict.py may hold: it is code; the weights are the run's outputs. */
const MAX_PREDICT_BYTES = 1024 ** 2;

/** A predict.py that cannot go into a model or a server; the sentence says what to do. */
export class PredictFileError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'PredictFileError';
  }
}

/**
 * What a model image's Dockerfile adds so that the image serves by itself, on KServe too (its build context has
 * serve.py and predict.py at its root). The token still comes from the environment (MLC_SERVE_TOKEN, or
 * MLC_SERVE_AUTH=none behind a mesh that authenticates).
 */
export function serveDockerfileLines(): string[] {
  return [`COPY serve.py ${SERVER_PATH}`, `COPY predict.py ${PREDICT_PATH}`, serveCmd()];
}

/** The model image's command: the server, on every address of the container (the engine publishes it to loopback). */
export function serveCmd(): string {
  return `CMD ["python3", "${SERVER_PATH}", "--host", "0.0.0.0", "--port", "${SERVE_PORT}"]`;
}

/** Does the image carry the server (saved with serveDockerfileLines)? */
export function imageServes(details: Pick<ImageDetails, 'cmd'>): boolean {
  return (details.cmd ?? []).includes(SERVER_PATH);
}

/** The model's name in /v2/models/NAME: the repository's last component (digits-model), from the reference or a tag. */
export function servedModelName(ref: string, details: Pick<ImageDetails, 'repoTags'>): string {
  const named =
    tryParseReference(ref) && !/^(sha256:)?[0-9a-f]{12,64}$/.test(ref) ? ref : details.repoTags.find((t) => tryParseReference(t));
  return named ? imageName(imageBaseName(named)) : 'model';
}

/**
 * A predict.py, read as a file a run may have replaced: not through a link, a plain file with one link, at most
 * 1 MiB. undefined when there is none.
 */
export async function readPredict(file: string): Promise<Buffer | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP')
      throw new PredictFileError(
        `${shownValue(file)} is a link, and a model takes only a plain predict.py (a run could have made the link): put the file itself there.`,
      );
    if (code === 'EISDIR' || code === 'ENXIO')
      throw new PredictFileError(`${shownValue(file)} is not a file: predict.py must be a plain file.`);
    throw e;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.nlink > 1)
      throw new PredictFileError(
        `${shownValue(file)} is ${st.isFile() ? 'a hard link to another file' : kind(st)}, not a plain predict.py: put the file itself there.`,
      );
    if (st.size > MAX_PREDICT_BYTES)
      throw new PredictFileError(
        `${shownValue(file)} has ${formatBytes(st.size)}, and a predict.py holds code (at most 1 MiB): keep the weights in the run's outputs.`,
      );
    const content = await handle.readFile();
    if (content.length > MAX_PREDICT_BYTES)
      throw new PredictFileError(`${shownValue(file)} grew past 1 MiB while it was read: save or serve again once nothing writes to it.`);
    return content;
  } finally {
    await handle.close();
  }
}
