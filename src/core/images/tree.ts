import type { ContainerSummary, ImageSummary } from '../docker/engine';
import { DIRTY_LABEL, IMAGE_ID_LABEL, JOB_LABEL, REVISION_LABEL, ROLE_LABEL, RUN_ID_LABEL } from '../labels';
import type { CommitMeta, GitHistory } from '../provenance/git';
import { familiarName, tryParseReference } from '../reference';
import { lowerIsBetter } from '../run/compare';
import type { RunRecord } from '../run/records';
import { runStatus } from '../run/status';

export interface ContainerNode {
  id: string;
  name: string;
  state: string;
  status: string;
  role: string | undefined;
  /** http://127.0.0.1:PORT for Jupyter containers: no token (that is read when the user opens it). */
  jupyterUrl: string | undefined;
  /** The run this container is the work of (its run-id label, or its backend job's label), when it has one. */
  runId: string | undefined;
  /** A backend's job (JOB_LABEL): its container carries the job's id, and the run's record names the same job. */
  jobId: string | undefined;
}

/** How a sweep's recorded points stand, and how many of its plan's points have no record at all. */
export interface SweepCounts {
  ok: number;
  failed: number;
  running: number;
  /** Queued in a backend, no container yet. */
  pending: number;
  cancelled: number;
  /** Points of the plan with no record: they never started (`mlc run --resume` starts them). */
  notStarted: number;
}

/** One sweep under its image: its points on record, newest first. */
export interface SweepNode {
  id: string;
  /** The plan's number of points, as its records say. */
  size: number;
  runs: RunRecord[];
  counts: SweepCounts;
}

/** The sweep's best point at one metric: its value, and the run. */
export interface SweepBest {
  metric: string;
  value: number;
  run: RunRecord;
  lowerIsBetter: boolean;
}

/** How a sweep's points are listed: best first at the headline metric, or newest start first. */
export type PointOrder = 'metric' | 'start';

/** A sweep's points shown at once; the rest sit behind one "N more" row. */
export const SWEEP_POINTS_SHOWN = 50;

export interface ImageNode {
  image: ImageSummary;
  /** The tag shown: the commit tag when there is one, else the first tag, else the short id. */
  name: string;
  /** Further tags of the same image, e.g. "latest". */
  otherTags: string[];
  sha: string | undefined;
  dirty: boolean;
  /** Its Jupyter servers, shells and any container of a run with no record here; a run's own containers are in runContainers. */
  containers: ContainerNode[];
  /** The containers of its recorded runs: each run is one row, its containers folded into it. */
  runContainers: ContainerNode[];
  /** Recorded runs in this image, newest first. */
  runs: RunRecord[];
  /** Its sweeps, the one started last first. */
  sweeps: SweepNode[];
  /** Its runs outside any sweep, newest first. */
  singles: RunRecord[];
}

export interface CommitGroup {
  /** undefined: images built outside git (timestamp tags). */
  sha: string | undefined;
  meta: CommitMeta | undefined;
  onBranch: boolean;
  isHead: boolean;
  images: ImageNode[];
}

export interface ExperimentTree {
  repository: boolean;
  head: { sha: string; meta: CommitMeta | undefined; hasImage: boolean } | undefined;
  groups: CommitGroup[];
}

/**
 * Groups the project's images under the commits they came from: the current branch's commits first, in `git log`
 * order; then commits not on it (other branches, rewritten history), newest image first; then images without a
 * commit. An image belongs to the project when its repository is the project's or its commit is in this repository.
 * Pure: one image list, one container list and one history in; no calls out.
 */
export function groupImages(
  images: readonly ImageSummary[],
  containers: readonly ContainerSummary[],
  history: GitHistory | undefined,
  projectRepo: string,
  runs: readonly RunRecord[] = [],
): ExperimentTree {
  const branchIndex = new Map((history?.branchOrder ?? []).map((sha, i) => [sha, i]));
  const byImage = new Map<string, ContainerNode[]>();
  for (const c of containers) {
    const imageId = c.labels[IMAGE_ID_LABEL] ?? c.imageId;
    const list = byImage.get(imageId) ?? [];
    list.push(containerNode(c));
    byImage.set(imageId, list);
  }

  const runsByImage = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const list = runsByImage.get(r.image.id) ?? [];
    list.push(r);
    runsByImage.set(r.image.id, list);
  }

  const groups = new Map<string, CommitGroup>();
  for (const image of images) {
    const sha = image.labels[REVISION_LABEL] || undefined;
    const ours =
      image.repoTags.some((t) => repoOf(t) === projectRepo) || (sha !== undefined && (history?.commits.has(sha) || branchIndex.has(sha)));
    if (!ours) continue;
    const key = sha ?? '';
    let group = groups.get(key);
    if (!group) {
      group = {
        sha,
        meta: sha ? history?.commits.get(sha) : undefined,
        onBranch: sha !== undefined && branchIndex.has(sha),
        isHead: sha !== undefined && sha === history?.head,
        images: [],
      };
      groups.set(key, group);
    }
    const imageRuns = (runsByImage.get(image.id) ?? []).slice().sort(newestFirst);
    group.images.push(imageNode(image, sha, byImage.get(image.id) ?? [], imageRuns));
  }

  const newest = (g: CommitGroup): number => Math.max(...g.images.map((i) => i.image.created));
  const sorted = [...groups.values()].sort((a, b) => {
    const rank = (g: CommitGroup): number => (g.onBranch ? 0 : g.sha ? 1 : 2);
    if (rank(a) !== rank(b)) return rank(a) - rank(b);
    if (a.onBranch && b.onBranch) return (branchIndex.get(a.sha ?? '') ?? 0) - (branchIndex.get(b.sha ?? '') ?? 0);
    return newest(b) - newest(a);
  });
  for (const g of sorted) g.images.sort((a, b) => b.image.created - a.image.created);

  const headSha = history?.head;
  return {
    repository: history !== undefined,
    head: headSha ? { sha: headSha, meta: history?.commits.get(headSha), hasImage: groups.has(headSha) } : undefined,
    groups: sorted,
  };
}

/** The tag `mlc build` gave the image for its commit (`<name>:<sha7>[-dirty]`), when it still has it. */
export function commitTag(repoTags: readonly string[], sha: string | undefined): string | undefined {
  const short = sha?.slice(0, 7);
  return short ? repoTags.find((t) => tagOf(t).startsWith(short)) : undefined;
}

function imageNode(image: ImageSummary, sha: string | undefined, all: ContainerNode[], runs: RunRecord[]): ImageNode {
  const primary = commitTag(image.repoTags, sha) ?? image.repoTags.find((t) => tagOf(t) !== 'latest') ?? image.repoTags[0];
  // A container is folded into its run when that run is on record here; one whose run has no record stays visible.
  const runIds = new Set(runs.map((r) => r.id));
  const jobs = new Map(runs.flatMap((r) => (r.job ? [[r.job.id, r.id] as const] : [])));
  const containers: ContainerNode[] = [];
  const runContainers: ContainerNode[] = [];
  for (const c of all) {
    const runId = c.runId !== undefined && runIds.has(c.runId) ? c.runId : c.jobId !== undefined ? jobs.get(c.jobId) : undefined;
    if (runId === undefined) containers.push(c);
    else runContainers.push({ ...c, runId });
  }
  const sweeps = new Map<string, RunRecord[]>();
  const singles: RunRecord[] = [];
  for (const r of runs) {
    if (!r.sweep) {
      singles.push(r);
      continue;
    }
    const list = sweeps.get(r.sweep.id) ?? [];
    list.push(r);
    sweeps.set(r.sweep.id, list);
  }
  return {
    image,
    name: primary ?? image.id.replace(/^sha256:/, '').slice(0, 12),
    otherTags: image.repoTags.filter((t) => t !== primary),
    sha,
    dirty: image.labels[DIRTY_LABEL] === 'true',
    containers,
    runContainers,
    runs,
    // runs are newest first, so a sweep's first run is its latest start and the sweeps come out in that order.
    sweeps: [...sweeps].map(([id, points]) => sweepNode(id, points)),
    singles,
  };
}

function newestFirst(a: RunRecord, b: RunRecord): number {
  return b.start.localeCompare(a.start) || b.id.localeCompare(a.id);
}

function sweepNode(id: string, runs: RunRecord[]): SweepNode {
  const counts: SweepCounts = { ok: 0, failed: 0, running: 0, pending: 0, cancelled: 0, notStarted: 0 };
  for (const r of runs) {
    const word = runStatus(r).kind;
    if (word === 'ok') counts.ok++;
    else if (word === 'running') counts.running++;
    else if (word === 'pending') counts.pending++;
    else if (word === 'cancelled') counts.cancelled++;
    else counts.failed++;
  }
  // Every start line carries the plan's size; the largest is the plan's (a record is never the only word on it).
  const size = Math.max(runs.length, ...runs.map((r) => r.sweep?.size ?? 0));
  counts.notStarted = size - runs.length;
  return { id, size, runs, counts };
}

/**
 * The metric a sweep is ranked by: the headline setting when given, else the first metric its first run with any
 * recorded (as the run rows pick theirs, core/run/comparePayload.ts headlineMetric).
 */
export function sweepMetric(sweep: SweepNode, headline: string): string | undefined {
  if (headline.trim()) return headline.trim();
  for (const r of [...sweep.runs].reverse()) {
    const first = Object.keys(r.metrics?.metrics ?? {})[0];
    if (first !== undefined) return first;
  }
  return undefined;
}

/** The run's last value of the metric, when it is a finite number. */
function metricValue(run: RunRecord, metric: string): number | undefined {
  const all = run.metrics?.metrics;
  const value = all && Object.hasOwn(all, metric) ? all[metric]?.last : undefined;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The sweep's best point at its headline metric (lower is better for loss, error…: core/run/compare.ts). */
export function sweepBest(sweep: SweepNode, headline: string): SweepBest | undefined {
  const metric = sweepMetric(sweep, headline);
  if (metric === undefined) return undefined;
  return bestOf(sweep.runs, metric);
}

function bestOf(runs: readonly RunRecord[], metric: string): SweepBest | undefined {
  const lower = lowerIsBetter(metric);
  let best: SweepBest | undefined;
  for (const run of runs) {
    const value = metricValue(run, metric);
    if (value === undefined) continue;
    if (!best || (lower ? value < best.value : value > best.value)) best = { metric, value, run, lowerIsBetter: lower };
  }
  return best;
}

/**
 * A sweep's points in the order asked: best first at the headline metric (those without it after, newest first),
 * or newest start first. Ties keep the newest first.
 */
export function sweepPoints(sweep: SweepNode, headline: string, order: PointOrder): RunRecord[] {
  const metric = order === 'metric' ? sweepMetric(sweep, headline) : undefined;
  if (metric === undefined) return sweep.runs.slice();
  const lower = lowerIsBetter(metric);
  const scored = sweep.runs.map((run, i) => ({ run, i, value: metricValue(run, metric) }));
  scored.sort((a, b) => {
    if (a.value === undefined || b.value === undefined) return a.value === b.value ? a.i - b.i : a.value === undefined ? 1 : -1;
    return (lower ? a.value - b.value : b.value - a.value) || a.i - b.i;
  });
  return scored.map((s) => s.run);
}

function containerNode(c: ContainerSummary): ContainerNode {
  const published = c.ports.find((p) => p.privatePort === 8888 && p.publicPort && p.ip === '127.0.0.1');
  const role = c.labels[ROLE_LABEL];
  return {
    runId: c.labels[RUN_ID_LABEL] || undefined,
    jobId: c.labels[JOB_LABEL] || undefined,
    id: c.id,
    name: c.names[0] ?? c.id.slice(0, 12),
    state: c.state,
    status: c.status,
    role,
    jupyterUrl: role === 'jupyter' && c.state === 'running' && published ? `http://127.0.0.1:${published.publicPort}` : undefined,
  };
}

/** "registry:5000/lab/dimuon:3f2a1bc" → "registry:5000/lab/dimuon". */
export function repoOf(tag: string): string {
  const ref = tryParseReference(tag);
  return ref ? familiarName(ref) : tag;
}

function tagOf(tag: string): string {
  return tryParseReference(tag)?.tag ?? 'latest';
}

/** The tokens a tree item's contextValue carries, for `viewItem =~ /\bimage;/`-style menu conditions. */
export function imageContextValue(node: ImageNode, group: CommitGroup): string {
  return [
    'image;',
    node.dirty ? 'dirty;' : 'clean;',
    [...node.containers, ...node.runContainers].some((c) => c.state === 'running') ? 'running;' : '',
    node.containers.some((c) => c.jupyterUrl) ? 'jupyter;' : '',
    node.containers.length || node.runContainers.length ? 'inUse;' : '',
    node.runs.length ? 'hasRuns;' : '',
    node.sha ? 'commit;' : '',
    group.isHead ? 'head;' : '',
  ].join('');
}

export function commitContextValue(group: CommitGroup): string {
  return ['commitGroup;', group.isHead ? 'head;' : '', group.onBranch ? 'onBranch;' : '', group.sha ? 'commit;' : ''].join('');
}

export function runContextValue(run: RunRecord): string {
  return ['run;', `${run.status};`, run.sweep ? 'sweep;' : ''].join('');
}

/** `sweep;` with a token for what its menu can do: `running;` (Stop), `notStarted;` (Resume). */
export function sweepContextValue(sweep: SweepNode): string {
  return ['sweep;', sweep.counts.running || sweep.counts.pending ? 'running;' : '', sweep.counts.notStarted ? 'notStarted;' : ''].join('');
}

export function containerContextValue(node: ContainerNode): string {
  return ['container;', node.state === 'running' ? 'running;' : 'stopped;', node.role === 'jupyter' ? 'jupyter;' : ''].join('');
}
