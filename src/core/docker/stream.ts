/**
 * Waits for an engine stream to finish: 'ended' when it ends or closes, 'aborted' when the signal aborts first (the
 * stream is then destroyed; an abort before the call counts too). Rejects with the stream's own error, unless the
 * signal has aborted by then: the error is then the abort's echo and the answer is 'aborted'.
 */
export function awaitStream(stream: NodeJS.ReadableStream, signal: AbortSignal | undefined): Promise<'ended' | 'aborted'> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      resolve('aborted');
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (error?: Error): void => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) resolve('aborted');
      else if (error) reject(error);
      else resolve('ended');
    };
    stream.on('error', settle);
    stream.on('end', () => settle());
    stream.on('close', () => settle());
  });
}
