/* eslint-disable @typescript-eslint/no-require-imports -- each command's module is required when it runs (Command) */
import { version } from '../../package.json';
import type * as BuildCommand from './build';
import type * as DiffCommand from './diff';
import type * as DoctorCommand from './doctor';
import type * as ExportCommand from './exportCmd';
import type * as InitCommand from './init';
import type * as InspectCommand from './inspect';
import type * as LsCommand from './ls';
import type * as ModelCommand from './model';
import type * as PredictCommand from './predict';
import type * as PushCommand from './push';
import type * as QuickstartCommand from './quickstart';
import type * as ServeCommand from './serve';
import type * as SlurmTaskCommand from './slurmTask';
import type * as RunCommand from './run';
import type * as UpCommand from './up';
import type { CliIO, Subcommand } from './io';
import { UsageError } from './io';
import { terminalText } from '../core/terminalText';

/**
 * A command. Its module is required when the command runs or its help is asked for, not when mlc starts: esbuild
 * initialises a required module (and the core only it imports) on that first require, so a fresh process sets up
 * only its own command's code. `mlc model save` spent ~20 ms setting up the other commands' (bench/ row 8).
 */
interface Command {
  load(): { run: Subcommand; help: string };
  summary: string;
  hidden?: boolean;
}

const subcommands: Record<string, Command> = {
  quickstart: {
    load: () => {
      const m = require('./quickstart') as typeof QuickstartCommand;
      return { run: m.quickstart, help: m.quickstartHelp };
    },
    summary: 'create a small PyTorch project, build it, run a two-point sweep and compare the runs: the whole job once',
  },
  doctor: {
    load: () => {
      const m = require('./doctor') as typeof DoctorCommand;
      return { run: m.doctor, help: m.doctorHelp };
    },
    summary: 'check the Docker engine, BuildKit and GPU runtimes (--gpu: the GPU preflight)',
  },
  init: {
    load: () => {
      const m = require('./init') as typeof InitCommand;
      return { run: m.init, help: m.initHelp };
    },
    summary: 'scaffold a devcontainer + Dockerfile for an ML preset',
  },
  diff: {
    load: () => {
      const m = require('./diff') as typeof DiffCommand;
      return { run: m.diff, help: m.diffHelp };
    },
    summary: 'show the packages that differ between two images',
  },
  build: {
    load: () => {
      const m = require('./build') as typeof BuildCommand;
      return { run: m.build, help: m.buildHelp };
    },
    summary: 'build the experiment image, tagged and labelled with its git commit',
  },
  inspect: {
    load: () => {
      const m = require('./inspect') as typeof InspectCommand;
      return { run: m.inspect, help: m.inspectHelp };
    },
    summary: "print an image's provenance: commit, base digest, Dockerfile, config, environment lock",
  },
  ls: {
    load: () => {
      const m = require('./ls') as typeof LsCommand;
      return { run: m.ls, help: m.lsHelp };
    },
    summary: 'list the experiment images under the git commits they came from',
  },
  up: {
    load: () => {
      const m = require('./up') as typeof UpCommand;
      return { run: m.up, help: m.upHelp };
    },
    summary: 'start Jupyter in the experiment image (127.0.0.1 only, random token) and print its URL',
  },
  down: {
    load: () => {
      const m = require('./up') as typeof UpCommand;
      return { run: m.down, help: m.downHelp };
    },
    summary: "stop and remove the project's Jupyter containers",
  },
  run: {
    load: () => {
      const m = require('./run') as typeof RunCommand;
      return { run: m.run, help: m.runHelp };
    },
    summary: 'run a command with a hyper-parameter YAML in the experiment image (lists in the YAML: a sweep)',
  },
  runs: {
    load: () => {
      const m = require('./run') as typeof RunCommand;
      return { run: m.runs, help: m.runsHelp };
    },
    summary: 'list the runs, running and finished: image, commit, config hash, exit code',
  },
  logs: {
    load: () => {
      const m = require('./run') as typeof RunCommand;
      return { run: m.logs, help: m.logsHelp };
    },
    summary: "print (or follow with -f) a run's output, while it runs or after",
  },
  stop: {
    load: () => {
      const m = require('./run') as typeof RunCommand;
      return { run: m.stop, help: m.stopHelp };
    },
    summary: 'stop a run, or a whole sweep; they are recorded as cancelled',
  },
  export: {
    load: () => {
      const m = require('./exportCmd') as typeof ExportCommand;
      return { run: m.exportCommand, help: m.exportHelp };
    },
    summary: 'write an Apptainer definition (HPC, GRID) or a Kubernetes Job / PyTorchJob for an experiment image',
  },
  push: {
    load: () => {
      const m = require('./push') as typeof PushCommand;
      return { run: m.push, help: m.pushHelp };
    },
    summary: 'push an experiment image to a registry under its commit tag, with your docker credentials',
  },
  model: {
    load: () => {
      const m = require('./model') as typeof ModelCommand;
      return { run: m.model, help: m.modelHelp };
    },
    summary: "save a run's artifacts as a model image FROM its image, with a model card (save); give it an alias (tag)",
  },
  models: {
    load: () => {
      const m = require('./model') as typeof ModelCommand;
      return { run: m.models, help: m.modelsHelp };
    },
    summary: 'list the model images: run, headline metric, aliases',
  },
  serve: {
    load: () => {
      const m = require('./serve') as typeof ServeCommand;
      return { run: m.serve, help: m.serveHelp };
    },
    summary: 'serve a model image over the Open Inference Protocol (V2 REST) on 127.0.0.1 with a random token',
  },
  predict: {
    load: () => {
      const m = require('./predict') as typeof PredictCommand;
      return { run: m.predict, help: m.predictHelp };
    },
    summary: "apply a model image's predict() to a .jsonl, .csv or folder of files, in parallel shards; --resume reruns failed ones",
  },
  // The recorder `mlc run --on slurm`'s batch script calls: not for people, so not in the usage.
  'slurm-task': {
    load: () => {
      const m = require('./slurmTask') as typeof SlurmTaskCommand;
      return { run: m.slurmTask, help: m.slurmTaskHelp };
    },
    summary: "record a Slurm array task's start or end",
    hidden: true,
  },
};

const usage = (): string =>
  [
    'mlc — ML Containers on the command line (the same core as the VS Code extension)',
    '',
    'Usage: mlc <command> [options]',
    '',
    ...Object.entries(subcommands)
      .filter(([, c]) => !c.hidden)
      .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`),
    '',
    "Run `mlc help <command>` or `mlc <command> --help` for a command's options; `mlc --version` (-V) for the version.",
    '',
    'Exit codes: 0 done; 1 failed (one line says why and what to do); 2 usage error (a flag, argument or option',
    "value the command does not take); 130 interrupted (Ctrl-C). `mlc run` exits with a single run's own code, and",
    '`mlc doctor --gpu` with 1 when GPU containers will not work.',
    '',
    'With --json, a command prints one JSON document on stdout (see its --help for the shape) and, when it fails,',
    '{"error": "<the sentence>"} instead, with the same exit code. Progress and warnings go to stderr. mlc prints',
    'no colour.',
  ].join('\n');

/** Runs one mlc invocation and returns its exit code: 0 ok, 1 failure, 2 usage error. */
export async function runCli(argv: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    io.out(version);
    return 0;
  }
  if (!name) {
    io.err(usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic === undefined) {
      io.out(usage());
      return 0;
    }
    if (!Object.hasOwn(subcommands, topic)) return unknownCommand(topic, io);
    io.out(subcommands[topic]!.load().help);
    return 0;
  }
  if (!Object.hasOwn(subcommands, name)) return unknownCommand(name, io);
  const command = subcommands[name]!.load();
  // After `--` the words are the user's command (`mlc run … -- python train.py --help`), not ours.
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (own.includes('--help') || own.includes('-h')) {
    io.out(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io, signal);
  } catch (e) {
    const usageError = e instanceof UsageError || isParseArgsError(e);
    const message = e instanceof Error ? e.message : String(e);
    io.err(`mlc ${name}: ${message}`);
    // With --json, stdout still holds one JSON document for a script to read; the exit code says the same.
    if (own.includes('--json')) io.out(JSON.stringify({ error: message }));
    return usageError ? 2 : 1;
  }
}

function unknownCommand(name: string, io: CliIO): number {
  io.err(`mlc: unknown command "${name}". Run \`mlc --help\` for the list.`);
  return 2;
}

/**
 * The CLI's streams. What reaches a terminal passes `terminalText`: labels, records, metric names and run output
 * are other people's text, and a terminal obeys the controls in it (OSC 52 writes the clipboard, a cursor move
 * rewrites what was read); colours stay. A pipe or a file gets the bytes as they are (`--json | jq`, a log).
 */
export function processIO(
  stdout: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>,
  stderr: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>,
  env: Readonly<Record<string, string | undefined>>,
): CliIO {
  const writer =
    (stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>) =>
    (line: string): void =>
      void stream.write(`${stream.isTTY ? terminalText(line) : line}\n`);
  return { out: writer(stdout), err: writer(stderr), env };
}

// Bundled entry point: dist/cli.js.
if (require.main === module) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  // `mlc doctor | head` closes stdout early: that is not an error worth a stack trace.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  const io = processIO(process.stdout, process.stderr, process.env);
  void runCli(process.argv.slice(2), io, controller.signal).then((code) => {
    process.exitCode = code;
  });
}

function isParseArgsError(e: unknown): e is Error {
  return e instanceof Error && String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
}
