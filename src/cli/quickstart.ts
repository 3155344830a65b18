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
import { QUICKSTART_EXAMPLE, QuickstartError, QuickstartFolderError, checkProjectDir, chooseQuickstartBase, createProjectDir, readExample, recoverQuickstart } from '../core/scaffold/quickstart';
import { resolveOptions } from '../core/scaffold/render';
import { loadTemplates, templatesDir } from '../core/scaffold/templateFiles';
import { writeFileAtomic } from '../core/atomicWrite';
import type { CliIO } from './io';
import { UsageError, cliLogger } from './io';
import { formatComparison } from './run';

export const quickstartHelp = `mlc quickstart [DIR] [--force] [--base-image REF] [--host URL]

Creates a small but real ML project in DIR (default: ./mlc-quickstart) and does the whole job once: a PyTorch MLP
on scikit-learn's bundled digits (no download) with configs/experiment.yaml sweeping two learning rates, the
PyTorch preset scaffolded around it, committed to a new git repository; then it builds the experiment image, runs
the two-point sweep (each run writes its metrics per epoch) and prints the comparison of the two runs.

The base is the catalog's PyTorch image when this engine has it or its registry answers; where neither (no
registry reachable), the local stand-in mlc-test/pytorch:bookworm that \`npm run engine\` builds, said so.
The project is written beside DIR and renamed into place; a failing step removes it again, so nothing is left
half-done and the command can simply be run again.

  --force           DIR exists and is not empty: move it aside (kept as DIR.before-quickstart-<time>) and
                    start over; without it such a DIR is refused and nothing is touched
  --base-image REF  build FROM this PyTorch image instead (one this engine has or can pull)
  --host URL        Docker host instead of DOCKER_HOST / the docker context`;

const STEPS = 5;

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
    await git.initialCommit(staging, 'Quickstart: an MLP on the digits, the PyTorch preset around it (mlc quickstart)', signal).catch((e: unknown) => {
      io.err(`note: no git commit (${e instanceof Error ? e.message.split('\n')[0] : String(e)}): images get a time tag and runs record no commit.`);
    });
  }).catch(asUsage);
  if (project.movedAside) io.err(`The folder that was there is kept as ${project.movedAside}.`);
  for (const f of example) io.err(`  ${f.path}`);
  io.err(`  .devcontainer/ (the ${findPreset(catalog, 'pytorch').label} preset), .dockerignore`);

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
      throw new QuickstartError(`${failed.length + result.notStarted} of ${result.plan.points.length} runs did not succeed (${failed.map((r) => `${r.id}: ${r.status === 'failed' ? `exit ${String(r.exitCode)}` : r.status}`).join(', ') || 'not started'}); their output is above`);
    }

    step(5, `Comparing the two runs (mlc runs --compare --sweep ${result.plan.id})`);
    const comparison = await compareRuns(result.records, imageLocks(engine, dir, signal));
    io.out('');
    for (const line of formatComparison(comparison)) io.out(line);
  } catch (e) {
    await project.discard();
    const why = (e instanceof Error ? e.message : String(e)).trim();
    if (signal.aborted) {
      io.err(`Interrupted: ${dir} was removed${project.movedAside ? ` and the folder it replaced put back` : ''}.`);
      return 130;
    }
    throw new QuickstartError(`${why.replace(/\.$/, '')}. ${dir} was removed${project.movedAside ? ' and the folder it replaced put back' : ''}; run \`mlc quickstart\` again once that is fixed.`);
  }
  await project.keep();

  const below = path.relative(process.cwd(), dir);
  const rel = !below ? '.' : below.startsWith('..') || path.isAbsolute(below) ? dir : below;
  io.out('');
  io.out(`Done: ${dir} holds the project, its image and two recorded runs (\`mlc runs --dir ${rel}\`).`);
  io.out(`Open it in VS Code: \`code ${rel}\`, then "ML Containers: Reopen in ML Container" (or the status bar item), "Run Experiment…" and "Compare Runs".`);
  io.out(`Start Jupyter in the same image: \`mlc up --dir ${rel}\` (127.0.0.1 only; it prints the URL with its token).`);
  return 0;
}
