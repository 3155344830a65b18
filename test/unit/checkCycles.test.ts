import * as assert from 'node:assert/strict';
import type * as CheckCycles from '../../scripts/check-cycles.mjs' with { 'resolution-mode': 'import' };

describe('import cycle check (scripts/check-cycles.mjs)', () => {
  let check: typeof CheckCycles;

  before(async () => {
    check = await import('../../scripts/check-cycles.mjs');
  });

  it('finds nothing in a graph without cycles, even one with many paths', () => {
    assert.deepEqual(check.findCycles({ a: { b: '1', c: '2' }, b: { d: '3' }, c: { d: '4' }, d: {} }), []);
  });

  it('lists every elementary cycle once, from its smallest node, in sorted order', () => {
    // table ↔ each handler, plus reopen → jupyter → table: three cycles through one shared node.
    const graph = {
      table: { jupyter: 'line 1', reopen: 'line 2' },
      jupyter: { table: 'line 3' },
      reopen: { jupyter: 'line 4', table: 'line 5' },
      services: {},
    };
    assert.deepEqual(check.findCycles(graph), [
      ['jupyter', 'table'],
      ['jupyter', 'table', 'reopen'],
      ['reopen', 'table'],
    ]);
  });

  it('reports a self-import, keeps only the cycles asked for, and stops at the limit', () => {
    assert.deepEqual(check.findCycles({ a: { a: 'line 1' } }), [['a']]);
    const graph = { a: { b: '' }, b: { a: '', c: '' }, c: { b: '' } };
    assert.deepEqual(
      check.findCycles(graph, (cycle) => cycle.includes('c')),
      [['b', 'c']],
    );
    assert.equal(check.findCycles(graph, undefined, 1).length, 1);
  });

  it('collapses files to the folders under the root, top-level files as their own node, one importing file per edge', () => {
    const files = {
      'src/core/run/experiment.ts': {
        'src/core/jupyter/server.ts': 'line 7',
        'src/core/run/gpuOptions.ts': 'line 8',
        'src/core/labels.ts': 'line 9',
      },
      'src/core/run/launch.ts': { 'src/core/jupyter/server.ts': 'line 3' },
      'src/core/jupyter/server.ts': { 'src/core/run/gpuOptions.ts': 'line 10' },
      'src/core/labels.ts': {},
      'src/cli/run.ts': { 'src/core/run/experiment.ts': 'line 1' },
    };
    const folders = check.folderGraph(files, 'src/core');
    assert.deepEqual(folders, {
      run: { jupyter: 'run/experiment.ts line 7 imports jupyter/server.ts', 'labels.ts': 'run/experiment.ts line 9 imports labels.ts' },
      jupyter: { run: 'jupyter/server.ts line 10 imports run/gpuOptions.ts' },
    });
    const [cycle, ...rest] = check.findCycles(folders);
    assert.deepEqual(rest, []);
    assert.equal(
      check.formatCycle('folder cycle in src/core', cycle ?? [], folders),
      'folder cycle in src/core: jupyter (jupyter/server.ts line 10 imports run/gpuOptions.ts) → run (run/experiment.ts line 7 imports jupyter/server.ts) → jupyter',
    );
  });
});
