// Types for the pure part of check-cycles.mjs, which test/unit/checkCycles.test.ts imports.

/** node → imported node → why that edge exists (where the import is). */
export type Graph = Readonly<Record<string, Readonly<Record<string, string>>>>;

export function findCycles(graph: Graph, keep?: (cycle: readonly string[]) => boolean, limit?: number): string[][];
export function formatCycle(label: string, cycle: readonly string[], graph: Graph): string;
export function folderGraph(fileGraph: Graph, root: string): Record<string, Record<string, string>>;
