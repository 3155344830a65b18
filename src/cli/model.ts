import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { formatAge, formatBytes } from '../core/format';
import { CARD_JSON, MODEL_DIR, shownValue } from '../core/model/card';
import type { ListedModel } from '../core/model/list';
import { listModels, tagModel } from '../core/model/list';
import { modelNameProblem, saveModel } from '../core/model/save';
import { parseOutputs } from '../core/run/outputs';
import { shortImageId } from '../core/reference';
import type { CliIO } from './io';
import { UsageError, asUsage, cliLogger } from './io';

export const modelHelp = `mlc model save RUN [--name NAME] [--files FILE,…] [--dir DIR] [--json] [--host URL]
mlc model tag MODEL ALIAS [--host URL]

save: builds a model image FROM the image run RUN ran in (pinned by its id), with the run's artifacts copied
from .mlcontainers/runs/RUN/ to ${MODEL_DIR}/ and a model card beside them (${CARD_JSON}, MODEL_CARD.md): the
run, its sweep point and parameters, final metrics, commit, the config's sha256, the training image's id,
base digest and environment lock, and each artifact's sha256 and size. The same facts are labels on the image
(org.mlcontainers.model.*), so \`mlc inspect\` reads them wherever the image goes. Tagged NAME:RUN; saving
the same artifacts of the same run again gives the same image id. Only a run that succeeded is saved, and only
plain files it wrote (no link, FIFO or hard link). Prints the image id and the tag (--json: one object).

  --files F,…  names or globs in the run's folder (checkpoints/*.pt); default: the outputs: list of the
               config the run saw (outputs: [model.pt] in the experiment YAML; not a sweep axis)
  --name NAME  the model's repository (default: the run's image repository + -model, e.g. digits-model)
  --dir DIR    project folder whose runs to read (default: .)
  --json       print {"imageId", "tag", "name", "card"}

tag: gives the model MODEL (NAME:RUN, an alias or an image id) the alias NAME:ALIAS, e.g. champion; an alias
another model had moves to this one.

  --host URL   Docker host instead of DOCKER_HOST / the docker context`;

export const modelsHelp = `mlc models [--json] [--host URL]

Lists the model images on the engine (\`mlc model save\`), newest first: name, run, headline metric (a held-out
one, val… or test…, where the run wrote one), aliases, age and size; from their labels alone.

  --json      print [{"id", "name", "run", "tags", "aliases", "headline", "created", "size", "model"}]
  --host URL  Docker host instead of DOCKER_HOST / the docker context`;

export async function model(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === 'save') return save(rest, io, signal);
  if (verb === 'tag') return tag(rest, io, signal);
  throw new UsageError(`mlc model takes save or tag${verb ? `, not "${verb}"` : ''}: mlc model save RUN, mlc model tag MODEL ALIAS.`);
}

async function save(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      files: { type: 'string', multiple: true },
      dir: { type: 'string', default: '.' },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('name one run: mlc model save RUN (`mlc runs` lists them).');
  const files = values.files
    ? asUsage(() =>
        parseOutputs(
          values
            .files!.flatMap((f) => f.split(','))
            .map((f) => f.trim())
            .filter(Boolean),
          '--files',
          '--files',
        ),
      )
    : undefined;
  const problem = values.name !== undefined ? modelNameProblem(values.name) : undefined;
  if (problem) throw new UsageError(problem);
  const saved = await saveModel({
    engine: machineEngine(values.host, {}, io.env),
    workspace: path.resolve(values.dir),
    run: positionals[0]!,
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(files ? { files } : {}),
    log: cliLogger(io, 'model'),
    signal,
  });
  if (values.json) {
    io.out(JSON.stringify({ imageId: saved.imageId, tag: saved.tag, name: saved.name, card: saved.card }));
    return 0;
  }
  io.out(saved.imageId);
  io.out(saved.tag);
  return 0;
}

async function tag(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { host: { type: 'string' } }, strict: true, allowPositionals: true });
  if (positionals.length !== 2)
    throw new UsageError('name the model and the alias: mlc model tag MODEL ALIAS (e.g. mlc model tag digits-model:RUN champion).');
  const [ref, alias] = positionals as [string, string];
  const tagged = await tagModel(machineEngine(values.host, {}, io.env), ref, alias, signal);
  if (tagged.movedFrom)
    io.err(`${tagged.tag} moved from ${shortImageId(tagged.movedFrom.id)}${tagged.movedFrom.run ? ` (run ${tagged.movedFrom.run})` : ''}.`);
  io.out(tagged.tag);
  return 0;
}

export async function models(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false }, host: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const listed = await listModels(machineEngine(values.host, { timeoutMs: 15_000 }, io.env), signal);
  if (values.json) {
    io.out(
      JSON.stringify(
        listed.map((m) => ({
          id: m.id,
          name: m.name ?? null,
          run: m.run ?? null,
          tags: m.tags,
          aliases: m.aliases,
          headline: m.headline ?? null,
          created: m.created,
          size: m.size,
          model: m.facts,
        })),
      ),
    );
    return 0;
  }
  if (!listed.length) {
    io.err('No model images on this engine: save one with `mlc model save RUN`.');
    return 0;
  }
  for (const line of formatModels(listed, Date.now())) io.out(line);
  return 0;
}

/** One row per model; every value from the labels is shown escaped (they may come from any registry). */
export function formatModels(listed: readonly ListedModel[], now: number): string[] {
  const rows = [['NAME', 'RUN', 'METRIC', 'ALIASES', 'IMAGE', 'CREATED', 'SIZE']];
  for (const m of listed) {
    rows.push([
      m.name ? shownValue(m.name, 60) : '(untagged)',
      m.run ?? '-',
      m.headline
        ? `${shownValue(m.headline.name, 40)}=${typeof m.headline.value === 'number' ? Number(m.headline.value.toPrecision(6)) : m.headline.value}`
        : '-',
      m.aliases.map((a) => shownValue(a, 60)).join(', ') || '-',
      shortImageId(m.id),
      formatAge(m.created, now),
      formatBytes(m.size),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}
