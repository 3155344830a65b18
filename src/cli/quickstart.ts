import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { buildExperiment } from '../core/build/buildExperiment';
import { machineEngine } from '../core/docker/machine';
import { loadRegistryAuth } from '../core/docker/registryAuth';
import { parseSize } from '../core/format';
import { GitCli } from '../core/provenance/git';
import { compareRuns, imageLocks } from '../core/run/compare';
import { runExperiment } from '../core/run/experiment';
import { findPreset } from '../core/scaffold/catalog';
import { latestTag } from '../core/scaffold/latestTags';
import { applyPlan } from '../core/scaffold/plan';
import { prepareScaffold } from '../core/scaffold/prepare';
import type { CreatedProject } from '../core/scaffold/quickstart';
import {
  QUICKSTART_EXAMPLE,
  QuickstartError,
  QuickstartFolderError,
  checkProjectDir,
  chooseQuickstartBase,
  createProjectDir,
  readExample,
  recoverQuickstart,
} from '../core/scaffold/quickstart';
import { resolveOptions } from '../core/scaffold/render';
import { loadTemplates, templatesDir } from '../core/scaffold/templateFiles';
import { writeFileAtomic } from '../core/atomicWrite';
import type { CliIO } from './io';
import { UsageError, cliLogger } from './io';
import { formatComparison } from './run';
import * as fs from 'node:fs/promises';
import type { Engine } from '../core/docker/engine';
import { isLocalEndpoint } from '../core/docker/endpoint';
import type { Logger } from '../core/log';
import type { ModelCard } from '../core/model/card';
import { MODEL_DIR, headlineMetric } from '../core/model/card';
import { saveModel } from '../core/model/save';
import { serveModel, stopModelServers } from '../core/model/serve';
import { formatParams } from '../core/run/sweep';

export const quickstartHelp = `mlc quickstart [DIR] [--force] [--base-image REF] [--host URL]

Creates a small but real ML project in DIR (default: ./mlc-quickstart) and does the whole job once: a PyTorch MLP
on scikit-learn's bundled digits (no download) with configs/experiment.yaml sweeping two learning rates, the
PyTorch preset scaffolded around it, committed to a new git repository; then it builds the experiment image, runs
the two-point sweep (each run writes its metrics per epoch), prints the comparison of the two runs, saves the best
run's model as a model image with its card (mlc model save), serves it (mlc serve: 127.0.0.1, a token), asks it
for the digit of a held-out image (heldout.json) and prints the answer beside the true label, then stops it.

The base is the catalog's PyTorch image when this engine has it or its registry answers; where neither (no
registry reachable), the local stand-in mlc-test/pytorch:bookworm that \`npm run engine\` builds, said so.
The project is written beside DIR and renamed into place; a failing step removes it again, so nothing is left
half-done and the command can simply be run again.

  --force           DIR exists and is not empty: move it aside (kept as DIR.before-quickstart-<time>) and
                    start over; without it such a DIR is refused and nothing is touched
  --base-image REF  build FROM this PyTorch image instead (one this engine has or can pull)
  --host URL        Docker host instead of DOCKER_HOST / the docker context`;

const STEPS = 7;

export async function quickstart(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  // SIGTERM and SIGHUP (a closed terminal, `kill`) clean up as Ctrl-C does; SIGKILL cannot: the next quickstart
  // into the same folder undoes what was left (recoverQuickstart).
  const terminated = new AbortController();
  let signalName: NodeJS.Signals | undefined;
  const onSignal = (name: NodeJS.Signals): void => {
    signalName ??= name;
    terminated.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    const code = await quickstartSteps(args, io, AbortSignal.any([signal, terminated.signal]));
    return code === 130 && signalName === 'SIGTERM' ? 143 : code === 130 && signalName === 'SIGHUP' ? 129 : code;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

async function quickstartSteps(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { force: { type: 'boolean', default: false }, 'base-image': { type: 'string' }, host: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 1) throw new UsageError(`give one folder, not ${positionals.length}: mlc quickstart [DIR]`);
  const dir = path.resolve(positionals[0] ?? 'mlc-quickstart');
  const name = path.basename(dir);
  const step = (n: number, line: string): void => io.err(`(${n}/${STEPS}) ${line}`);
  const engine = machineEngine(values.host, {}, io.env);
  const log = cliLogger(io, 'quickstart');
  const templates = templatesDir();

  // Like init's conflict: the same command with another folder or --force is the fix, so a usage error.
  const asUsage = (e: unknown): never => {
    throw e instanceof QuickstartFolderError ? new UsageError(e.message) : e;
  };
  const recovered = await recoverQuickstart(dir).catch(asUsage);
  if (recovered) io.err(recovered);
  await checkProjectDir(dir, values.force).catch(asUsage);

  step(1, 'Choosing the base image');
  await engine.ping(signal);
  const { catalog } = await loadTemplates(templates);
  const preset = { preset: 'pytorch', name };
  const resolved = resolveOptions(catalog, preset, name);
  const base = values['base-image']
    ? { image: values['base-image'], note: `Base: ${values['base-image']} (--base-image).` }
    : await chooseQuickstartBase(resolved.catalogBaseImage, {
        hasImage: async (ref) => (await engine.inspectImage(ref, signal)) !== undefined,
        lookup: () => latestTag(resolved.catalogBaseImage, resolved.version, { env: { ...io.env }, signal }),
      });
  io.err(base.note);

  step(2, `Writing the example project to ${dir}`);
  const git = new GitCli();
  const example = await readExample(templates, QUICKSTART_EXAMPLE);
  const project: CreatedProject = await createProjectDir(dir, values.force, async (staging) => {
    for (const f of example) await writeFileAtomic(path.join(staging, ...f.path.split('/')), f.content);
    const prepared = await prepareScaffold(staging, templates, { ...preset, baseImage: base.image }, false);
    await applyPlan(staging, prepared.plan);
    await git
      .initialCommit(staging, 'Quickstart: an MLP on the digits, the PyTorch preset around it (mlc quickstart)', signal)
      .catch((e: unknown) => {
        io.err(
          `note: no git commit (${e instanceof Error ? e.message.split('\n')[0] : String(e)}): images get a time tag and runs record no commit.`,
        );
      });
  }).catch(asUsage);
  if (project.movedAside) io.err(`The folder that was there is kept as ${project.movedAside}.`);
  for (const f of example) io.err(`  ${f.path}`);
  io.err(`  .devcontainer/ (the ${findPreset(catalog, 'pytorch').label} preset), .dockerignore`);

  let modelTag: string | undefined;
  try {
    step(3, `Building the experiment image ${name}`);
    const built = await buildExperiment({
      folder: dir,
      hyperparameters: 'configs/experiment.yaml',
      engine,
      git,
      registryAuth: (host, s) => loadRegistryAuth(host, io.env, io.env.HOME || os.homedir(), s),
      log: cliLogger(io, 'build'),
      signal,
    });
    io.err(`Built ${built.tags.join(', ')}.`);

    step(4, 'Running the learning-rate sweep: two runs, one container each');
    const result = await runExperiment({
      engine,
      workspace: dir,
      config: 'configs/experiment.yaml',
      image: built.tags.find((t) => t.endsWith(':latest')) ?? built.imageId,
      command: ['python3', 'train.py'],
      gpu: 'auto',
      shmSizeBytes: parseSize('8g'),
      git,
      log,
      catalog,
      onLine: (r, line, stream) => {
        const prefixed = `[${r.point.index + 1}/${r.size}] ${line}`;
        if (stream === 'stdout') io.out(prefixed);
        else io.err(prefixed);
      },
      signal,
    });
    const failed = result.records.filter((r) => r.status !== 'succeeded');
    if (failed.length || result.notStarted || !result.records.length) {
      throw new QuickstartError(
        `${failed.length + result.notStarted} of ${result.plan.points.length} runs did not succeed (${failed.map((r) => `${r.id}: ${r.status === 'failed' ? `exit ${String(r.exitCode)}` : r.status}`).join(', ') || 'not started'}); their output is above`,
      );
    }

    step(5, `Comparing the two runs (mlc runs --compare --sweep ${result.plan.id})`);
    const comparison = await compareRuns(result.records, imageLocks(engine, dir, signal));
    io.out('');
    for (const line of formatComparison(comparison)) io.out(line);

    const headline = headlineMetric(comparison.metricNames);
    const best = (headline ? comparison.best[headline]?.run : undefined) ?? result.records[0]!.id;
    step(6, `Saving the best run's model (mlc model save ${best}${headline ? `: the best ${headline}` : ''})`);
    const saved = await saveModel({ engine, workspace: dir, run: best, log: cliLogger(io, 'model'), signal });
    io.err(
      `Saved ${saved.tag} (${saved.imageId.slice(7, 19)}): ${saved.card.artifacts.map((a) => `${a.name} sha256:${a.sha256.slice(0, 12)}`).join(', ')}; its card is in ${MODEL_DIR}/.`,
    );

    modelTag = saved.tag;
    step(7, `Serving it (mlc serve ${saved.tag}) and asking for the digit of a held-out image`);
    io.out('');
    // A server is published on the engine host's 127.0.0.1: from another machine there is nothing to ask.
    if (isLocalEndpoint(engine.endpoint))
      for (const line of await predictHeldOut(engine, saved.tag, dir, templates, log, signal)) io.out(line);
    else
      io.out(
        `Not served: the engine is on ${engine.endpoint.host}, and a model is served on its host's 127.0.0.1 only (run \`mlc serve ${saved.tag}\` there).`,
      );
    io.out('');
    for (const line of cardLines(saved.card)) io.out(line);
  } catch (e) {
    await project.discard();
    const why = (e instanceof Error ? e.message : String(e)).trim();
    if (signal.aborted) {
      io.err(`Interrupted: ${dir} was removed${project.movedAside ? ` and the folder it replaced put back` : ''}.`);
      return 130;
    }
    throw new QuickstartError(
      `${why.replace(/\.$/, '')}. ${dir} was removed${project.movedAside ? ' and the folder it replaced put back' : ''}; run \`mlc quickstart\` again once that is fixed.`,
    );
  }
  await project.keep();

  const below = path.relative(process.cwd(), dir);
  const rel = !below ? '.' : below.startsWith('..') || path.isAbsolute(below) ? dir : below;
  io.out('');
  io.out(`Done: ${dir} holds the project, its image and two recorded runs (\`mlc runs --dir ${rel}\`).`);
  io.out(
    `Open it in VS Code: \`code ${rel}\`, then "ML Containers: Reopen in ML Container" (or the status bar item), "Run Experiment…" and "Compare Runs".`,
  );
  io.out(`Start Jupyter in the same image: \`mlc up --dir ${rel}\` (127.0.0.1 only; it prints the URL with its token).`);
  if (modelTag) io.out(`Serve the model yourself: \`mlc serve ${modelTag}\` (\`mlc models\` lists the models).`);
  return 0;
}

/**
 * Serves the model, sends heldout.json's pixels to its V2 infer endpoint with the server's token, and says what it
 * answered beside the true label. The server is stopped and removed whatever happens.
 */
async function predictHeldOut(
  engine: Engine,
  model: string,
  dir: string,
  templates: string,
  log: Logger,
  signal: AbortSignal,
): Promise<string[]> {
  const sample = JSON.parse(await fs.readFile(path.join(dir, 'heldout.json'), 'utf8')) as {
    index: number;
    label: number;
    pixels: number[];
  };
  const server = await serveModel({ engine, model, workspace: dir, templatesDir: templates, readyTimeoutMs: 120_000, log, signal });
  try {
    const response = await fetch(`${server.baseUrl}/v2/models/${server.model}/infer`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'pixels', shape: [1, 64], datatype: 'FP32', data: sample.pixels }] }),
      signal,
    });
    const body = (await response.json()) as { outputs?: { name: string; data: number[] }[]; error?: string };
    const digit = body.outputs?.find((o) => o.name === 'digit')?.data[0];
    if (!response.ok || typeof digit !== 'number')
      throw new QuickstartError(`the served model answered ${response.status}${body.error ? `: ${body.error}` : ' without a digit'}`);
    return [
      `Held-out image ${sample.index} (heldout.json), sent to ${server.baseUrl}/v2/models/${server.model}/infer:`,
      `  the model says ${digit}; the label is ${sample.label}${digit === sample.label ? '' : ' (a miss)'}.`,
    ];
  } finally {
    await stopModelServers(engine, [server]).catch((e: unknown) =>
      log.warn(`could not stop ${server.container}: ${e instanceof Error ? e.message : String(e)}`),
    );
  }
}

/** The model's card in a few lines: which run, commit, config, metrics and artifacts made it. */
function cardLines(card: ModelCard): string[] {
  return [
    `Model card (${MODEL_DIR}/card.json, and \`mlc inspect\` of the image):`,
    `  run ${card.run}${card.sweep ? ` (point ${card.sweep.index + 1} of sweep ${card.sweep.id})` : ''}, commit ${card.commit?.slice(0, 12) ?? 'none'}${card.dirty ? '+dirty' : ''}`,
    `  params ${formatParams(card.params) || 'none'}; config ${card.config.path} sha256:${card.config.sha256.slice(0, 12)}`,
    `  metrics ${Object.entries(card.metrics)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ')}`,
    ...card.artifacts.map((a) => `  ${a.name}: ${a.size} bytes, sha256:${a.sha256}`),
  ];
}
