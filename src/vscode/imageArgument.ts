import type { ImageSummary } from '../core/docker/engine';
import type { TreeNode } from './tree/provider';

/** An image chosen in the sidebar (its tag, else its id) or passed by reference. */
export function imageArgument(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const node = arg as TreeNode | undefined;
  if (node?.kind === 'image') return node.node.image.repoTags.length ? node.node.name : node.node.image.id;
  const image = arg as Partial<ImageSummary> | undefined;
  return image?.repoTags?.[0] ?? image?.id;
}
