// Values concatenated into text another program parses line by line (an Apptainer .def, a batch script): a
// value must stay on its line, so no control character enters one. Tab counts as one: a field of these formats that
// holds a tab is split or misread, and no value we write needs it. What a serialiser writes (yaml, shell-quote) is
// escaped by the serialiser and needs none of this. A value refused is named in the message with `printable`.

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_RUNS = /[\x00-\x1f\x7f]+/g;
// C1 as well when shown (a terminal reads \x9b as the start of an escape sequence), and the invisible and
// reordering characters a name can hide behind.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\\"\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Whether s holds a control character (C0, tab and newline included, or DEL). */
export function hasControlCharacter(s: string): boolean {
  return CONTROL.test(s);
}

/** s on one line: each run of control characters as one space, then trimmed. For free text such as a label's value. */
export function singleLine(s: string): string {
  return s.replace(CONTROL_RUNS, ' ').trim();
}

/** s in double quotes for a message, with control characters, `\` and `"` escaped, at most `max` characters of it. */
export function printable(s: string, max = 80): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\', '"': '\\"' };
  return `"${cut.replace(UNPRINTABLE, (c) => named[c] ?? (c.charCodeAt(0) > 0xff ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))}"`;
}
