// Fails `npm run lint` on import cycles: among the VS Code command modules (each command file imports only the
// shell's shared modules; only table.ts imports the handlers), between the folders of src/core (a folder-level cycle
// means a seam is in the wrong place), and between any two files of src/. Uses the TypeScript compiler API because it is already a
// devDependency; `import type` counts, since a type-only cycle is still a tangle to read.
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const MAX_CYCLES = 50;

/**
 * Every elementary cycle of `graph` (node → target → why that edge exists) that `keep` accepts, each starting at its
 * smallest node and listed once, in sorted order; at most `limit` of them. `[a, b]` means a → b → a.
 */
export function findCycles(graph, keep = () => true, limit = MAX_CYCLES) {
  const nodes = [...new Set([...Object.keys(graph), ...Object.values(graph).flatMap((t) => Object.keys(t))])].sort();
  const targets = (node) => Object.keys(graph[node] ?? {}).sort();
  const cycles = [];
  for (const start of nodes) {
    // Only nodes after `start` that share its strongly connected component: a cycle is found once, from its
    // smallest node, and the search never wanders into parts of the graph that cannot lead back.
    const allowed = componentOf(start, (n) => targets(n).filter((t) => t >= start));
    const pathNodes = [start];
    const onPath = new Set(pathNodes);
    const walk = (node) => {
      for (const next of targets(node)) {
        if (cycles.length >= limit) return;
        if (next === start) {
          if (keep(pathNodes)) cycles.push([...pathNodes]);
        } else if (allowed.has(next) && !onPath.has(next)) {
          pathNodes.push(next);
          onPath.add(next);
          walk(next);
          onPath.delete(next);
          pathNodes.pop();
        }
      }
    };
    walk(start);
    if (cycles.length >= limit) break;
  }
  return cycles;
}

/** The nodes reachable from `start` that can also reach it back. */
function componentOf(start, targets) {
  const reach = (from, step) => {
    const seen = new Set([from]);
    const todo = [from];
    while (todo.length) {
      for (const n of step(todo.pop())) {
        if (!seen.has(n)) {
          seen.add(n);
          todo.push(n);
        }
      }
    }
    return seen;
  };
  const forward = reach(start, targets);
  const reverse = (node) => [...forward].filter((n) => targets(n).includes(node));
  return reach(start, reverse);
}

/** One line: each node with the reason for its edge to the next, so the import to cut is named. */
export function formatCycle(label, cycle, graph) {
  const steps = cycle.map((from, i) => `${from} (${graph[from][cycle[(i + 1) % cycle.length]]})`);
  return `${label}: ${[...steps, cycle[0]].join(' → ')}`;
}

/**
 * Collapses a file graph to the folders directly under `root` (a file directly in `root` is its own node); an edge
 * keeps the first importing file (in sorted order) as its reason. Files outside `root` and edges within one folder
 * are left out.
 */
export function folderGraph(fileGraph, root) {
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const folderOf = (file) => (file.startsWith(prefix) ? file.slice(prefix.length).split('/')[0] : undefined);
  const graph = {};
  for (const from of Object.keys(fileGraph).sort()) {
    const a = folderOf(from);
    if (a === undefined) continue;
    for (const [to, where] of Object.entries(fileGraph[from]).sort(([x], [y]) => (x < y ? -1 : 1))) {
      const b = folderOf(to);
      if (b === undefined || b === a) continue;
      graph[a] ??= {};
      graph[a][b] ??= `${from.slice(prefix.length)} ${where} imports ${to.slice(prefix.length)}`;
    }
  }
  return graph;
}

/** src/ file → imported src/ file → "line N" of the first import of it; paths relative to `repo`. */
function sourceGraph(repo) {
  const configPath = path.join(repo, 'tsconfig.json');
  const config = ts.parseJsonConfigFileContent(ts.readConfigFile(configPath, ts.sys.readFile).config, ts.sys, repo);
  const rel = (file) => path.relative(repo, file).split(path.sep).join('/');
  const graph = {};
  for (const file of config.fileNames.filter((f) => rel(f).startsWith('src/'))) {
    const source = ts.createSourceFile(file, ts.sys.readFile(file) ?? '', ts.ScriptTarget.Latest, true);
    const edges = (graph[rel(file)] = {});
    const add = (specifier) => {
      if (!ts.isStringLiteralLike(specifier) || !specifier.text.startsWith('.')) return;
      const resolved = ts.resolveModuleName(specifier.text, file, config.options, ts.sys).resolvedModule?.resolvedFileName;
      if (!resolved || !rel(resolved).startsWith('src/')) return;
      const line = source.getLineAndCharacterOfPosition(specifier.getStart()).line + 1;
      edges[rel(resolved)] ??= `line ${line}`;
    };
    const visit = (node) => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) add(node.moduleSpecifier);
      else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
        add(node.moduleReference.expression);
      else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
      else if (
        ts.isCallExpression(node) &&
        node.arguments.length === 1 &&
        (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
      )
        add(node.arguments[0]);
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return graph;
}

function main() {
  const repo = process.cwd();
  const files = sourceGraph(repo);
  const commands = 'src/vscode/commands/';
  const folders = folderGraph(files, 'src/core');
  const lines = [
    // Cycles of the whole file graph that pass through a command module, so a detour through a shared module counts.
    ...findCycles(files, (cycle) => cycle.some((f) => f.startsWith(commands))).map((cycle) =>
      formatCycle('import cycle through src/vscode/commands', cycle, files),
    ),
    ...findCycles(folders).map((cycle) => formatCycle('folder cycle in src/core', cycle, folders)),
    // Any cycle between files of src/ (two files of one folder importing each other, as container/request.ts and
    // container/runtime.ts did, is invisible to the folder check).
    ...findCycles(files, (cycle) => !cycle.some((f) => f.startsWith(commands))).map((cycle) =>
      formatCycle('import cycle between files', cycle, files),
    ),
  ];
  for (const line of lines) console.error(line);
  if (lines.length >= MAX_CYCLES) console.error(`(the search stops at ${MAX_CYCLES} cycles per check; fix these first)`);
  if (lines.length) process.exit(1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
