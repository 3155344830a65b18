// A container's output is written by other people's code, and a terminal obeys what it reads: OSC 52 writes the
// clipboard, OSC 8 makes links whose target is not the text shown, a cursor move or an erase rewrites what the user
// already read, DCS/APC strings reach the terminal's own handlers. What a run prints is shown through
// `terminalText`, which keeps text, line breaks, \r (progress bars redraw their line with it), tabs and colours
// (SGR, `ESC [ … m`) and drops every other control. The run's output.log keeps the bytes as they came: it is the
// record, and only what is displayed is filtered.
//
// Both the 7-bit forms (ESC [, ESC ], ESC P …) and the 8-bit C1 introducers (U+009B CSI, U+009D OSC, U+0090 DCS …)
// are recognised: xterm.js, VS Code's terminal, reads both. Backspace is dropped too: it lets a line show other text
// than it holds, and training output has no use for it.

const ESC = 0x1b;
const BEL = 0x07;
const ST_C1 = 0x9c;

/** `s` with every terminal control removed except \n, \r, \t and SGR colour sequences. Linear in `s`'s length. */
export function terminalText(s: string): string {
  // Most lines hold no control at all: return them as they are.
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]/.test(s)) return s;
  let out = '';
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c !== 0x7f && (c < 0x80 || c > 0x9f)) {
      let j = i + 1;
      while (j < n && isText(s.charCodeAt(j))) j++;
      out += s.slice(i, j);
      i = j;
    } else if (c === 0x0a || c === 0x0d || c === 0x09) {
      out += s[i];
      i++;
    } else if (c === ESC) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : -1;
      if (next === 0x5b /* [ */) {
        const end = csiEnd(s, i + 2);
        if (end > 0 && isSgr(s, i + 2, end)) out += s.slice(i, end + 1);
        i = end > 0 ? end + 1 : Math.max(-end, i + 2);
      } else if (next === 0x5d /* ] */) {
        i = stringEnd(s, i + 2, true);
      } else if (next === 0x50 /* P */ || next === 0x58 /* X */ || next === 0x5e /* ^ */ || next === 0x5f /* _ */) {
        i = stringEnd(s, i + 2, false);
      } else {
        // ESC, intermediates (0x20-0x2F), one final byte: ESC c (reset), ESC 7/8, ESC ( B and the like.
        let j = i + 1;
        while (j < n && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x2f) j++;
        i = j < n && s.charCodeAt(j) >= 0x30 && s.charCodeAt(j) <= 0x7e ? j + 1 : j;
      }
    } else if (c === 0x9b) {
      const end = csiEnd(s, i + 1);
      i = end > 0 ? end + 1 : Math.max(-end, i + 1);
    } else if (c === 0x9d) {
      i = stringEnd(s, i + 1, true);
    } else if (c === 0x90 || c === 0x98 || c === 0x9e || c === 0x9f) {
      i = stringEnd(s, i + 1, false);
    } else {
      // Any other C0 (BEL, backspace, form feed, shift-out…), DEL or C1.
      i++;
    }
  }
  return out;
}

function isText(c: number): boolean {
  return c >= 0x20 && c !== 0x7f && (c < 0x80 || c > 0x9f);
}

/**
 * A CSI's final byte from its first parameter byte at `from`: parameters 0x30-0x3F, intermediates 0x20-0x2F, a final
 * 0x40-0x7E. A sequence cut short (the text ends, or a byte that cannot be in it) gives minus the index to resume at.
 */
function csiEnd(s: string, from: number): number {
  let j = from;
  while (j < s.length && s.charCodeAt(j) >= 0x30 && s.charCodeAt(j) <= 0x3f) j++;
  while (j < s.length && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x2f) j++;
  if (j < s.length && s.charCodeAt(j) >= 0x40 && s.charCodeAt(j) <= 0x7e) return j;
  return -j;
}

/** Colours and text attributes only: `ESC [` digits, `;` and `:` (256-colour and RGB forms), then `m`. */
function isSgr(s: string, from: number, end: number): boolean {
  return s.charCodeAt(end) === 0x6d && /^[0-9;:]*$/.test(s.slice(from, end));
}

/**
 * Where an OSC, DCS, SOS, PM or APC string that starts at `from` ends: after ST (ESC \ or U+009C), or for an OSC
 * after BEL too, as terminals accept. An unterminated string runs to the end of the text: a terminal would swallow
 * what follows as well.
 */
function stringEnd(s: string, from: number, belEnds: boolean): number {
  for (let j = from; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === ST_C1 || (belEnds && c === BEL)) return j + 1;
    if (c === ESC && s.charCodeAt(j + 1) === 0x5c /* \ */) return j + 2;
  }
  return s.length;
}
