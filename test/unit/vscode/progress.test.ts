import * as assert from 'node:assert/strict';
import type * as Progress from '../../../src/vscode/progress';
import { installFakeVscode, loadFresh } from '../../helpers/fakeVscode';

describe('withCancellableProgress (fake vscode)', () => {
  let uninstall: () => void;
  let shown: unknown[];
  let cancel: () => void;
  let listeners: number;
  let progress: typeof Progress;

  beforeEach(() => {
    const fake = installFakeVscode();
    const { module } = fake;
    shown = [];
    listeners = 0;
    // A token whose Cancel button the test presses, counting live listeners.
    (module.window as Record<string, unknown>).withProgress = async (
      options: unknown,
      task: (p: unknown, t: unknown) => Promise<unknown>,
    ) => {
      shown.push(options);
      const handlers: (() => void)[] = [];
      const token = {
        isCancellationRequested: false,
        onCancellationRequested: (fn: () => void) => (handlers.push(fn), listeners++, { dispose: () => listeners-- }),
      };
      cancel = () => ((token.isCancellationRequested = true), handlers.forEach((h) => h()));
      return task({ report: () => undefined }, token);
    };
    uninstall = fake.uninstall;
    progress = loadFresh('src/vscode/progress');
  });

  afterEach(() => uninstall());

  it('shows a cancellable notification with the title, and Cancel aborts the signal handed to the work', async () => {
    let seen: AbortSignal | undefined;
    const result = progress.withCancellableProgress('Checking…', async (signal) => {
      seen = signal;
      assert.equal(signal.aborted, false);
      cancel();
      return signal.aborted;
    });
    assert.equal(await result, true);
    assert.deepEqual(shown, [{ location: 15, title: 'Checking…', cancellable: true }]);
    assert.equal(seen?.aborted, true);
  });

  it('disposes the cancellation listener when the work fails as when it succeeds', async () => {
    await progress.withCancellableProgress('a', async () => 1);
    assert.equal(listeners, 0);
    await assert.rejects(
      progress.withCancellableProgress('b', async () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(listeners, 0);
  });
});
