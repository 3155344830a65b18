// What mlc writes reaches a terminal without the controls other people's text carries (labels, records, run output),
// and a pipe byte for byte.
import * as assert from 'node:assert/strict';
import { processIO } from '../../../src/cli/main';

describe('mlc output on a terminal and in a pipe', () => {
  const stream = (isTTY: boolean): { write: (s: string) => boolean; isTTY: boolean; written: string[] } => {
    const written: string[] = [];
    return { isTTY, written, write: (s: string) => (written.push(s), true) };
  };
  // An image title label that writes the clipboard (OSC 52), moves the cursor up and erases, in colour.
  const hostile = 'title      \x1b]52;c;cm0gLXJmIH4=\x07\x1b[1A\x1b[2K\x1b[31mred\x1b[0m\x9b2J';

  it('drops every control but colours on a terminal, on stdout and stderr', () => {
    const out = stream(true);
    const err = stream(true);
    const io = processIO(out, err, {});
    io.out(hostile);
    io.err(hostile);
    assert.deepEqual(out.written, ['title      \x1b[31mred\x1b[0m\n']);
    assert.deepEqual(err.written, out.written);
  });

  it('writes the bytes as they are to a pipe or a file', () => {
    const out = stream(false);
    processIO(out, stream(false), {}).out(hostile);
    assert.deepEqual(out.written, [`${hostile}\n`]);
  });
});
