// Model images on an engine: found by their role label, described by their labels alone (readModelLabels), and
// given aliases (`champion`) as tags of the same repository.
import type { Engine } from '../docker/engine';
import { ROLE_LABEL } from '../labels';
import type { JsonNumber } from '../metrics/metrics';
import { familiarImageName, familiarName, tryParseReference } from '../reference';
import type { ModelFacts } from './card';
import { MODEL_ROLE, readModelLabels } from './card';
import { ModelError } from './save';

export interface ListedModel {
  id: string;
  /** The repository of its `<name>:<run id>` tag (as `docker images` shows it); undefined when that tag is gone. */
  name: string | undefined;
  run: string | undefined;
  /** Every tag, as `docker images` shows them. */
  tags: string[];
  /** The tags other than the run id's: the user's names for it. */
  aliases: string[];
  headline: { name: string; value: JsonNumber } | undefined;
  /** Seconds since the epoch, as the engine says. */
  created: number;
  size: number;
  facts: ModelFacts;
}

/** The model images on the engine, newest first. */
export async function listModels(engine: Engine, signal?: AbortSignal): Promise<ListedModel[]> {
  const [images, ping] = await Promise.all([engine.listImages({ labels: [`${ROLE_LABEL}=${MODEL_ROLE}`] }, signal), engine.ping(signal)]);
  const out: ListedModel[] = [];
  for (const image of images) {
    const facts = readModelLabels(image.labels);
    if (!facts) continue;
    const tags = image.repoTags.filter((t) => t !== '<none>:<none>').map((t) => familiarImageName(t, ping.isPodman));
    const { name, aliases } = splitTags(tags, facts.run);
    const value = facts.headline !== undefined && facts.metrics ? facts.metrics[facts.headline] : undefined;
    out.push({
      id: image.id,
      name,
      run: facts.run,
      tags,
      aliases,
      headline: facts.headline !== undefined && value !== undefined ? { name: facts.headline, value } : undefined,
      created: image.created,
      size: image.size,
      facts,
    });
  }
  return out.sort((a, b) => b.created - a.created || (a.id < b.id ? -1 : 1));
}

/** The repository of the `<name>:<run>` tag among `tags`, and the other tags' own names (aliases). */
export function splitTags(tags: readonly string[], run: string | undefined): { name: string | undefined; aliases: string[] } {
  const parsed = tags.map((t) => ({ t, ref: tryParseReference(t) }));
  const own = parsed.find((p) => p.ref && run !== undefined && p.ref.tag === run);
  const name = own?.ref ? familiarName(own.ref) : undefined;
  const aliases = parsed
    .filter((p) => p !== own)
    .map((p) => (p.ref && name !== undefined && familiarName(p.ref) === name && p.ref.tag ? p.ref.tag : p.t));
  return { name, aliases };
}

/** An alias a model may take: a tag docker accepts. */
const ALIAS = /^\w[\w.-]{0,127}$/;

/**
 * Tags the model `ref` names as `<name>:<alias>`, where name is its `<name>:<run id>` repository (else the one `ref`
 * names). Returns the new tag and the model the alias moved from, when another one had it.
 */
export async function tagModel(
  engine: Engine,
  ref: string,
  alias: string,
  signal?: AbortSignal,
): Promise<{ tag: string; imageId: string; movedFrom?: { id: string; run?: string } }> {
  if (!ALIAS.test(alias))
    throw new ModelError(
      `${JSON.stringify(alias)} is not an alias: write letters, digits, _ . - (at most 128, not starting with . or -), e.g. champion.`,
    );
  const image = await engine.inspectImage(ref, signal);
  if (!image) throw new ModelError(`No image ${ref} on this engine: \`mlc models\` lists the models.`);
  const facts = readModelLabels(image.labels);
  if (!facts) throw new ModelError(`${ref} is not a model image: save one with \`mlc model save RUN\`, then tag that.`);
  if (facts.run === alias)
    throw new ModelError(`${alias} is the model's run id, which its own tag already uses: choose another alias (e.g. champion).`);
  const ping = await engine.ping(signal);
  const tags = image.repoTags.filter((t) => t !== '<none>:<none>').map((t) => familiarImageName(t, ping.isPodman));
  const given = tryParseReference(ref);
  const name = splitTags(tags, facts.run).name ?? (given ? familiarName(given) : undefined);
  if (!name)
    throw new ModelError(`${ref} has no <name>:<run id> tag to take the alias's name from: name it by a tag (\`mlc models\` lists them).`);
  const tag = `${name}:${alias}`;
  const before = await engine.inspectImage(tag, signal);
  await engine.tagImage(image.id, name, alias, signal);
  const prior = before && before.id !== image.id ? readModelLabels(before.labels) : undefined;
  return {
    tag,
    imageId: image.id,
    ...(before && before.id !== image.id ? { movedFrom: { id: before.id, ...(prior?.run ? { run: prior.run } : {}) } } : {}),
  };
}
