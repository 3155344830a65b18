import type { FormattingOptions, ParseError } from 'jsonc-parser';
import { UserError } from '../errors';
import { isRecord } from '../json';
import { applyEdits, findNodeAtLocation, modify, parse, parseTree, printParseErrorCode } from 'jsonc-parser';

export class InvalidJsoncError extends UserError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    detail: string,
  ) {
    super(`${file}:${line}:${column}: ${detail}. Fix the file (or move it aside) and try again; nothing was written.`);
    this.name = 'InvalidJsoncError';
  }
}

/** Parses JSONC as the Dev Containers extension does (comments and trailing commas allowed), or says where it breaks. */
export function parseJsonc(text: string, file: string): Record<string, unknown> {
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const { line, column } = lineColumn(text, first.offset);
    throw new InvalidJsoncError(file, line, column, printParseErrorCode(first.error));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidJsoncError(file, 1, 1, 'the top level is not an object');
  }
  return value as Record<string, unknown>;
}

/**
 * Edits the user's devcontainer.json in place with our keys, keeping their comments, formatting and every key we
 * do not set. Lists (extensions, forwardPorts) and maps (containerEnv, build.args) are merged, not replaced.
 */
export function mergeDevcontainer(existingText: string, ours: Record<string, unknown>, file: string): string {
  const theirs = parseJsonc(existingText, file);
  if (theirs.dockerComposeFile !== undefined) {
    throw new InvalidJsoncError(
      file,
      1,
      1,
      'it uses dockerComposeFile, which a Dockerfile build cannot merge into; write the preset to its own folder instead',
    );
  }
  const formatting = detectFormatting(existingText);
  let text = existingText;
  const set = (pathKeys: (string | number)[], value: unknown): void => {
    text = applyEdits(text, modify(text, pathKeys, value, { formattingOptions: formatting }));
  };
  // image and build are alternatives in the spec: our build replaces a plain image.
  if (theirs.image !== undefined) {
    text = removeProperty(text, 'image');
  }
  for (const [key, value] of Object.entries(ours)) {
    const current = theirs[key];
    if (key === 'build' && isRecord(value) && isRecord(current)) {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'args' && isRecord(v) && isRecord(current.args)) {
          for (const [arg, argValue] of Object.entries(v)) set(['build', 'args', arg], argValue);
        } else {
          set(['build', k], v);
        }
      }
    } else if ((key === 'containerEnv' || key === 'portsAttributes') && isRecord(value) && isRecord(current)) {
      for (const [k, v] of Object.entries(value)) set([key, k], v);
    } else if ((key === 'forwardPorts' || key === 'runArgs') && Array.isArray(value) && Array.isArray(current)) {
      set([key], key === 'runArgs' ? mergeRunArgs(current, value) : union(current, value));
    } else if (key === 'customizations' && isRecord(value) && isRecord(current)) {
      const ourExt = isRecord(value.vscode) && Array.isArray(value.vscode.extensions) ? value.vscode.extensions : [];
      const theirVscode = isRecord(current.vscode) ? current.vscode : undefined;
      if (theirVscode && Array.isArray(theirVscode.extensions)) {
        set(['customizations', 'vscode', 'extensions'], union(theirVscode.extensions, ourExt));
      } else {
        set(['customizations', 'vscode', 'extensions'], ourExt);
      }
    } else if (key === 'name' && typeof current === 'string') {
      // Their name stays.
    } else {
      set([key], value);
    }
  }
  return text;
}

/**
 * Removes a top-level property and its comma but nothing around it: jsonc-parser's own removal also swallows
 * the comments between the previous property and this one.
 */
function removeProperty(text: string, key: string): string {
  const tree = parseTree(text, [], { allowTrailingComma: true });
  const property = tree ? findNodeAtLocation(tree, [key])?.parent : undefined;
  if (!property) {
    return text;
  }
  let start = property.offset;
  let end = property.offset + property.length;
  const comma = /^[ \t]*,/.exec(text.slice(end));
  if (comma) {
    end += comma[0].length;
  }
  const lineStart = text.lastIndexOf('\n', start - 1) + 1;
  const rest = /^[ \t]*\r?\n/.exec(text.slice(end));
  if (rest && /^[ \t]*$/.test(text.slice(lineStart, start))) {
    start = lineStart;
    end += rest[0].length;
  }
  return text.slice(0, start) + text.slice(end);
}

/** Keeps the user's run args and adds ours whose flag they do not already set. */
function mergeRunArgs(theirs: unknown[], ours: unknown[]): unknown[] {
  const flag = (a: unknown): string => String(a).split('=')[0] ?? '';
  const out = [...theirs];
  for (let i = 0; i < ours.length; i++) {
    const arg = ours[i];
    if (arg === '--ulimit') {
      const value = String(ours[i + 1] ?? '');
      const name = value.split('=')[0];
      const already = theirs.some(
        (t, j) => (t === '--ulimit' && String(theirs[j + 1] ?? '').startsWith(`${name}=`)) || String(t).startsWith(`--ulimit=${name}=`),
      );
      if (!already) out.push(arg, value);
      i++;
    } else if (!theirs.some((t) => flag(t) === flag(arg))) {
      out.push(arg);
    }
  }
  return out;
}

function union(a: unknown[], b: unknown[]): unknown[] {
  const out = [...a];
  for (const v of b) if (!out.some((x) => JSON.stringify(x) === JSON.stringify(v))) out.push(v);
  return out;
}

function detectFormatting(text: string): FormattingOptions {
  const indent = /^([ \t]+)\S/m.exec(text)?.[1] ?? '  ';
  return {
    insertSpaces: !indent.startsWith('\t'),
    tabSize: indent.startsWith('\t') ? 1 : indent.length,
    eol: text.includes('\r\n') ? '\r\n' : '\n',
  };
}

export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return { line, column };
}
