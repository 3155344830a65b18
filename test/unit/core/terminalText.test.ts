import * as assert from 'node:assert/strict';
import { terminalText } from '../../../src/core/terminalText';

describe('terminalText (what a run prints, as a terminal shows it)', () => {
  it('drops an OSC 52 clipboard write, whether BEL or ST ends it', () => {
    assert.equal(terminalText('a\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07b'), 'ab');
    assert.equal(terminalText('a\x1b]52;c;Y3VybA==\x1b\\b'), 'ab');
    assert.equal(terminalText('a\x9d52;c;Y3VybA==\x9cb'), 'ab');
  });

  it('drops an OSC 8 hyperlink and keeps its text', () => {
    assert.equal(terminalText('see \x1b]8;;https://evil.example/\x1b\\docs\x1b]8;;\x1b\\ here'), 'see docs here');
  });

  it('drops cursor moves, erases and other CSI sequences', () => {
    assert.equal(terminalText('loss 0.3\x1b[2A\x1b[2K\x1b[10;5Hloss 9.9'), 'loss 0.3loss 9.9');
    assert.equal(terminalText('x\x1b[?1049hy\x9b2Jz'), 'xyz');
  });

  it('keeps SGR colours, 256-colour and RGB forms included', () => {
    const coloured = '\x1b[1;31merror\x1b[0m \x1b[38;5;208mwarn\x1b[m \x1b[38:2::255:0:0mrgb\x1b[0m';
    assert.equal(terminalText(coloured), coloured);
  });

  it('drops DCS, APC, PM and SOS strings, an unterminated one to the end of the text', () => {
    assert.equal(terminalText('a\x1bP1$qm\x1b\\b\x1b_Gf=100;AAAA\x1b\\c\x1b^pm\x1b\\d\x1bXsos\x1b\\e'), 'abcde');
    assert.equal(terminalText('a\x1b]0;title never ends'), 'a');
  });

  it('keeps \\n, \\r and \\t; drops other C0 controls, DEL, C1 and two-byte escapes', () => {
    assert.equal(terminalText('10%\r20%\tok\n'), '10%\r20%\tok\n');
    assert.equal(terminalText('a\x07b\x08c\x00d\x7fe\x85f\x1bcg\x1b(Bh\x1b7i'), 'abcdefghi');
  });

  it('leaves plain text, unicode included, as it is', () => {
    const plain = 'epoch 3/10 — loss 0.31 ✓ 学习';
    assert.equal(terminalText(plain), plain);
  });
});
