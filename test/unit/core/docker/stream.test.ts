import * as assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { awaitStream } from '../../../../src/core/docker/stream';

describe('awaitStream', () => {
  it('answers ended when the stream ends', async () => {
    const stream = new PassThrough();
    const done = awaitStream(stream, undefined);
    stream.resume();
    stream.end('last line\n');
    assert.equal(await done, 'ended');
  });

  it('answers ended when the stream closes without an end (a dropped connection)', async () => {
    const stream = new PassThrough();
    const done = awaitStream(stream, new AbortController().signal);
    stream.emit('close');
    assert.equal(await done, 'ended');
  });

  it('rejects with the stream error', async () => {
    const stream = new PassThrough();
    const done = awaitStream(stream, new AbortController().signal);
    stream.destroy(new Error('socket hang up'));
    await assert.rejects(done, /socket hang up/);
  });

  it('destroys the stream and answers aborted when the signal aborts', async () => {
    const stream = new PassThrough();
    const abort = new AbortController();
    const done = awaitStream(stream, abort.signal);
    abort.abort();
    assert.equal(await done, 'aborted');
    assert.equal(stream.destroyed, true);
  });

  it('destroys the stream at once when the signal aborted before the call', async () => {
    const stream = new PassThrough();
    const abort = new AbortController();
    abort.abort();
    assert.equal(await awaitStream(stream, abort.signal), 'aborted');
    assert.equal(stream.destroyed, true);
  });

  it('answers aborted, not the error, when the abort itself makes the stream fail', async () => {
    const stream = new PassThrough();
    const abort = new AbortController();
    // As the HTTP client does: its own abort listener, registered first, fails the response stream.
    abort.signal.addEventListener('abort', () => stream.emit('error', new Error('The operation was aborted')));
    const done = awaitStream(stream, abort.signal);
    abort.abort();
    assert.equal(await done, 'aborted');
  });
});
