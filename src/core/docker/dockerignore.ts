// .dockerignore matching with the docker CLI's rules, in time linear in the path for each rule. @balena/dockerignore
// (and moby) turn a pattern into a regular expression; moby runs it on Go's RE2, which never backtracks, but
// JavaScript's engine does: `*a*a*a*a*a*a*a*a*a*a*a` against a 40-character name took 36 s, and a .dockerignore is
// the project's, not ours to trust. Here a pattern is a list of tokens walked as a set of states (Thompson's
// construction), so a path costs at most path length × pattern length steps whatever the pattern.
//
// Rules are read as @balena/dockerignore reads them (moby 19.03's dockerignore.ReadAll and fileutils): a line
// starting with # is a comment, `!` negates, the pattern is cleaned (path.posix.normalize, no leading or trailing
// slash), the last matching rule decides, and a rule matches a path or the parent folder made of as many parts as the
// rule has (any number with `**`). Inside a pattern, as moby's patternmatcher compiles it: `*` is any run without
// `/`, `?` one character but `/`, `**` any run of folders (`**/` included; at the end, anything), `[...]` a class
// (`[^...]` negated, ranges), `\x` the character x, and every other character itself: `.+()|{}$` are literal, as in
// today's docker CLI (moby/patternmatcher escapes them; @balena/dockerignore, from moby 19.03, left `+(){}|` to
// the regular expression). Characters are Unicode code points, as Go's regexp reads them.
import * as path from 'node:path';
import { UserError } from '../errors';

/** A .dockerignore line the docker CLI refuses too ("Syntax error in pattern"), said with the line. */
export class DockerignorePatternError extends UserError {
  constructor(pattern: string) {
    super(`.dockerignore: the pattern ${JSON.stringify(pattern)} has a [ without its ]: write \\[ for a literal [.`);
    this.name = 'DockerignorePatternError';
  }
}

type Token =
  | { kind: 'char'; c: string }
  | { kind: 'any' } // ?
  | { kind: 'star' } // *
  | { kind: 'folders' } // ** before more pattern: (.*/)?
  | { kind: 'rest' } // ** at the end: .*
  | { kind: 'start' } // ^ outside a class: only at the start
  | { kind: 'class'; negated: boolean; ranges: [number, number][] };

/** A pattern compiled once: `test` says whether it matches the whole of a path. */
export interface GlobMatcher {
  test(p: string): boolean;
}

/** Compiles one cleaned .dockerignore pattern (no `!`); throws DockerignorePatternError for an unclosed `[`. */
export function compileGlob(pattern: string): GlobMatcher {
  const tokens = tokenize(pattern);
  // A pattern without special tokens is a string comparison (moby's exactMatch).
  if (tokens.every((t) => t.kind === 'char')) {
    const literal = tokens.map((t) => (t as { c: string }).c).join('');
    return { test: (p) => p === literal };
  }
  return { test: (p) => run(tokens, p) };
}

function tokenize(pattern: string): Token[] {
  const cs = Array.from(pattern);
  const tokens: Token[] = [];
  for (let i = 0; i < cs.length; i++) {
    const ch = cs[i]!;
    if (ch === '*') {
      if (cs[i + 1] === '*') {
        i++;
        if (cs[i + 1] === '/') i++;
        tokens.push(i + 1 >= cs.length ? { kind: 'rest' } : { kind: 'folders' });
      } else {
        tokens.push({ kind: 'star' });
      }
    } else if (ch === '?') {
      tokens.push({ kind: 'any' });
    } else if (ch === '\\') {
      // A trailing backslash stands for itself.
      tokens.push({ kind: 'char', c: i + 1 < cs.length ? cs[++i]! : '\\' });
    } else if (ch === '[') {
      const parsed = parseClass(cs, i + 1);
      if (!parsed) throw new DockerignorePatternError(pattern);
      tokens.push(parsed.token);
      i = parsed.end;
    } else if (ch === '^') {
      tokens.push({ kind: 'start' });
    } else {
      tokens.push({ kind: 'char', c: ch });
    }
  }
  return tokens;
}

/** A class as RE2 reads one: `^` first negates, a `]` first is literal, `a-z` ranges, `\x` the character x. */
function parseClass(cs: string[], from: number): { token: Token; end: number } | undefined {
  let i = from;
  const negated = cs[i] === '^';
  if (negated) i++;
  const ranges: [number, number][] = [];
  let first = true;
  for (; i < cs.length; i++) {
    let ch = cs[i]!;
    if (ch === ']' && !first) return { token: { kind: 'class', negated, ranges }, end: i };
    first = false;
    if (ch === '\\') {
      if (i + 1 >= cs.length) return undefined;
      ch = cs[++i]!;
    }
    let hi = ch;
    if (cs[i + 1] === '-' && i + 2 < cs.length && cs[i + 2] !== ']') {
      hi = cs[i + 2] === '\\' && i + 3 < cs.length ? cs[i + 3]! : cs[i + 2]!;
      i += cs[i + 2] === '\\' ? 3 : 2;
    }
    ranges.push([ch.codePointAt(0)!, hi.codePointAt(0)!]);
  }
  return undefined;
}

/** Simulates the pattern on `p`: `at[k]` means "before token k", `inFolders[k]` "inside token k's run of folders". */
function run(tokens: readonly Token[], p: string): boolean {
  const n = tokens.length;
  let at = new Uint8Array(n + 1);
  let inFolders = new Uint8Array(n);
  let next = new Uint8Array(n + 1);
  let nextIn = new Uint8Array(n);
  at[0] = 1;
  closure(tokens, at, inFolders, true);
  for (const ch of p) {
    next.fill(0);
    nextIn.fill(0);
    let alive = false;
    for (let k = 0; k < n; k++) {
      if (inFolders[k] && ch !== '\n') {
        nextIn[k] = 1;
        if (ch === '/') next[k + 1] = 1;
        alive = true;
      }
      if (!at[k]) continue;
      const t = tokens[k]!;
      switch (t.kind) {
        case 'char':
          if (ch === t.c) next[k + 1] = 1;
          break;
        case 'any':
          if (ch !== '/') next[k + 1] = 1;
          break;
        case 'star':
          if (ch !== '/') next[k] = 1;
          break;
        case 'rest':
          if (ch !== '\n') next[k] = 1;
          break;
        case 'class':
          if (inClass(t, ch)) next[k + 1] = 1;
          break;
        default:
          break;
      }
    }
    [at, next] = [next, at];
    [inFolders, nextIn] = [nextIn, inFolders];
    if (!closure(tokens, at, inFolders, false) && !alive) return false;
  }
  return at[n] === 1;
}

/** Follows the tokens that can match nothing; returns whether any state is left. */
function closure(tokens: readonly Token[], at: Uint8Array, inFolders: Uint8Array, atStart: boolean): boolean {
  let any = false;
  for (let k = 0; k < tokens.length; k++) {
    if (!at[k]) continue;
    any = true;
    const kind = tokens[k]!.kind;
    if (kind === 'star' || kind === 'rest' || kind === 'folders' || (kind === 'start' && atStart)) at[k + 1] = 1;
    if (kind === 'folders') inFolders[k] = 1;
  }
  return any || at[tokens.length] === 1 || inFolders.some((v) => v === 1);
}

function inClass(t: { negated: boolean; ranges: [number, number][] }, ch: string): boolean {
  const c = ch.codePointAt(0)!;
  return t.ranges.some(([lo, hi]) => c >= lo && c <= hi) !== t.negated;
}

interface Rule {
  negative: boolean;
  /** The cleaned pattern's parts, for the parent-folder test. */
  dirs: string[];
  glob: GlobMatcher;
}

/** What the scan asks of .dockerignore: whether a path (relative, forward slashes) is ignored. */
export interface DockerignoreMatcher {
  ignores(p: string): boolean;
}

/** The matcher of a .dockerignore's lines (or a frontend's exclude patterns). */
export function dockerignoreMatcher(lines: readonly string[]): DockerignoreMatcher {
  const rules = lines.flatMap((line) => {
    const rule = parseRule(line);
    return rule ? [rule] : [];
  });
  return { ignores: (p) => ignores(rules, p) };
}

function parseRule(line: string): Rule | undefined {
  if (!line || line.startsWith('#') || line.trim() === '') return undefined;
  let pattern = line.trim();
  let negative = pattern.startsWith('!');
  if (negative) pattern = pattern.slice(1).trim();
  if (pattern.length > 0) {
    pattern = cleanPath(pattern);
    if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
  }
  if (negative) pattern = `!${pattern}`;
  pattern = pattern.trim();
  if (pattern === '') return undefined;
  pattern = cleanPath(pattern);
  if (pattern.startsWith('!')) {
    if (pattern.length === 1) return undefined;
    negative = true;
    pattern = pattern.slice(1);
  } else {
    negative = false;
  }
  return { negative, dirs: pattern.split('/'), glob: compileGlob(pattern) };
}

function ignores(rules: readonly Rule[], file: string): boolean {
  if (!file) return true;
  const parentPath = cleanPath(path.posix.dirname(file));
  const parentDirs = parentPath.split('/');
  let matched = false;
  for (const rule of rules) {
    let match = rule.glob.test(file);
    if (!match && parentPath !== '.') {
      if (rule.dirs.includes('**')) {
        for (let i = rule.dirs.filter((d) => d !== '**').length; i <= parentDirs.length && !match; i++)
          match = rule.glob.test(parentDirs.slice(0, i).join('/'));
      } else if (rule.dirs.length <= parentDirs.length) {
        match = rule.glob.test(parentDirs.slice(0, rule.dirs.length).join('/'));
      }
    }
    if (match) matched = !rule.negative;
  }
  return matched;
}

/** Go's filepath.Clean as @balena/dockerignore has it: normalized, no trailing slash. */
function cleanPath(p: string): string {
  return path.posix.normalize(p).replace(/(?<=.)\/$/, '');
}
