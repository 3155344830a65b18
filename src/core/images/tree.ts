import type { ContainerSummary, ImageSummary } from '../docker/engine';
import { DIRTY_LABEL, IMAGE_ID_LABEL, REVISION_LABEL, ROLE_LABEL } from '../labels';
import type { CommitMeta, GitHistory } from '../provenance/git';
import { familiarName, tryParseReference } from '../reference';
import type { RunRecord } from '../run/records';

export interface ContainerNode {
  id: string;
  name: string;
  state: string;
  status: string;
  role: string | undefined;
  /** http://127.0.0.1:PORT for Jupyter containers: no token (that is read when the user opens it). */
  jupyterUrl: string | undefined;
}

export interface ImageNode {
  image: ImageSummary;
  /** The tag shown: the commit tag when there is one, else the first tag, else the short id. */
  name: string;
  /** Further tags of the same image, e.g. "latest". */
  otherTags: string[];
  sha: string | undefined;
  dirty: boolean;
  containers: ContainerNode[];
  /** Recorded runs in this image, newest first. */
  runs: RunRecord[];
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
    const imageRuns = (runsByImage.get(image.id) ?? []).slice().sort((a, b) => b.start.localeCompare(a.start) || b.id.localeCompare(a.id));
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

function imageNode(image: ImageSummary, sha: string | undefined, containers: ContainerNode[], runs: RunRecord[]): ImageNode {
  const primary = commitTag(image.repoTags, sha) ?? image.repoTags.find((t) => tagOf(t) !== 'latest') ?? image.repoTags[0];
  return {
    image,
    name: primary ?? image.id.replace(/^sha256:/, '').slice(0, 12),
    otherTags: image.repoTags.filter((t) => t !== primary),
    sha,
    dirty: image.labels[DIRTY_LABEL] === 'true',
    containers,
    runs,
  };
}

function containerNode(c: ContainerSummary): ContainerNode {
  const published = c.ports.find((p) => p.privatePort === 8888 && p.publicPort && p.ip === '127.0.0.1');
  const role = c.labels[ROLE_LABEL];
  return {
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
    node.containers.some((c) => c.state === 'running') ? 'running;' : '',
    node.containers.some((c) => c.jupyterUrl) ? 'jupyter;' : '',
    node.containers.length ? 'inUse;' : '',
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

export function containerContextValue(node: ContainerNode): string {
  return ['container;', node.state === 'running' ? 'running;' : 'stopped;', node.role === 'jupyter' ? 'jupyter;' : ''].join('');
}
