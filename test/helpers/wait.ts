// Waits with a deadline that fails naming what was awaited. Mocha's own timeout only says "Timeout of 2000ms
// exceeded", which leaves the reader to guess which wait hung; each wait here gives up first: WAIT_MS is under mocha's
// default 2 s (a plain `npx mocha` run) and well under the unit tier's 10 s (.mocharc.unit.json).

/** How long one wait may take; the conditions awaited in unit tests settle within milliseconds of a fake's call. */
export const WAIT_MS = 1_500;

/** What was awaited, as words after "waited for"; a function is asked at the deadline, so it can say what it saw. */
export type Awaited = string | (() => string);

/** Polls `test`, a tick at a time, until it holds; after `ms`, throws an Error naming `what`. */
export async function until(test: () => boolean | Promise<boolean>, what: Awaited, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() >= deadline) throw new WaitError(what, ms);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `promise`'s value; after `ms` without one, an Error naming `what`. */
export async function within<T>(promise: Promise<T>, what: Awaited, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new WaitError(what, ms)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

export class WaitError extends Error {
  constructor(what: Awaited, ms: number) {
    super(`waited ${ms} ms for ${typeof what === 'string' ? what : what()}`);
    this.name = 'WaitError';
  }
}
