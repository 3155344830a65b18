import { version } from '../../package.json';
import type { CliIO, Subcommand } from './io';
import { UsageError } from './io';
import { terminalText } from '../core/terminalText';

/**
 * A command. Its module is imported when the command runs or its help is asked for, not when mlc starts: in the
 * bundle esbuild initialises such a module (and the core only it imports) on that first import, so a fresh process
 * sets up only its own command's code. `mlc model save` spent ~20 ms setting up the other commands' (bench/ row 8).
 * import() rather than require(): the type checker then knows each module's exports without a cast.
 */
interface Command {
  load(): Promise<{ run: Subcommand; help: string }>;
  summary: string;
  hidden?: boolean;
}

const subcommands: Record<string, Command> = {
  quickstart: {
    load: async () => {
      const m = await import('./quickstart.js');
      return { run: m.quickstart, help: m.quickstartHelp };
    },
    summary: 'create a small PyTorch project, build it, run a two-point sweep and compare the runs: the whole job once',
  },
  doctor: {
    load: async () => {
      const m = await import('./doctor.js');
      return { run: m.doctor, help: m.doctorHelp };
    },
    summary: 'check the Docker engine, BuildKit and GPU runtimes (--gpu: the GPU preflight)',
  },
  init: {
    load: async () => {
      const m = await import('./init.js');
      return { run: m.init, help: m.initHelp };
    },
    summary: 'scaffold a devcontainer + Dockerfile for an ML preset',
  },
  diff: {
    load: async () => {
      const m = await import('./diff.js');
      return { run: m.diff, help: m.diffHelp };
    },
    summary: 'show the packages that differ between two images',
  },
  build: {
    load: async () => {
      const m = await import('./build.js');
      return { run: m.build, help: m.buildHelp };
    },
    summary: 'build the experiment image, tagged and labelled with its git commit',
  },
  inspect: {
    load: async () => {
      const m = await import('./inspect.js');
      return { run: m.inspect, help: m.inspectHelp };
    },
    summary: "print an image's provenance: commit, base digest, Dockerfile, config, environment lock",
  },
  ls: {
    load: async () => {
      const m = await import('./ls.js');
      return { run: m.ls, help: m.lsHelp };
    },
    summary: 'list the experiment images under the git commits they came from',
  },
  up: {
    load: async () => {
      const m = await import('./up.js');
      return { run: m.up, help: m.upHelp };
    },
    summary: 'start Jupyter in the experiment image (127.0.0.1 only, random token) and print its URL',
  },
  down: {
    load: async () => {
      const m = await import('./up.js');
      return { run: m.down, help: m.downHelp };
    },
    summary: "stop and remove the project's Jupyter containers",
  },
  run: {
    load: async () => {
      const m = await import('./run.js');
      return { run: m.run, help: m.runHelp };
    },
    summary: 'run a command with a hyper-parameter YAML in the experiment image (lists in the YAML: a sweep)',
  },
  runs: {
    load: async () => {
      const m = await import('./run.js');
      return { run: m.runs, help: m.runsHelp };
    },
    summary: 'list the runs, running and finished: image, commit, config hash, exit code',
  },
  logs: {
    load: async () => {
      const m = await import('./run.js');
      return { run: m.logs, help: m.logsHelp };
    },
    summary: "print (or follow with -f) a run's output, while it runs or after",
  },
  stop: {
    load: async () => {
      const m = await import('./run.js');
      return { run: m.stop, help: m.stopHelp };
    },
    summary: 'stop a run, or a whole sweep; they are recorded as cancelled',
  },
  export: {
    load: async () => {
      const m = await import('./exportCmd.js');
      return { run: m.exportCommand, help: m.exportHelp };
    },
    summary: 'write an Apptainer definition (HPC, GRID) or a Kubernetes Job / PyTorchJob for an experiment image',
  },
  push: {
    load: async () => {
      const m = await import('./push.js');
      return { run: m.push, help: m.pushHelp };
    },
    summary: 'push an experiment image to a registry under its commit tag, with your docker credentials',
  },
  model: {
    load: async () => {
      const m = await import('./model.js');
      return { run: m.model, help: m.modelHelp };
    },
    summary: "save a run's artifacts as a model image FROM its image, with a model card (save); give it an alias (tag)",
  },
  models: {
    load: async () => {
      const m = await import('./model.js');
      return { run: m.models, help: m.modelsHelp };
    },
    summary: 'list the model images: run, headline metric, aliases',
  },
  serve: {
    load: async () => {
      const m = await import('./serve.js');
      return { run: m.serve, help: m.serveHelp };
    },
    summary: 'serve a model image over the Open Inference Protocol (V2 REST) on 127.0.0.1 with a random token',
  },
  predict: {
    load: async () => {
      const m = await import('./predict.js');
      return { run: m.predict, help: m.predictHelp };
    },
    summary: "apply a model image's predict() to a .jsonl, .csv or folder of files, in parallel shards; --resume reruns failed ones",
  },
  // The recorder `mlc run --on slurm`'s batch script calls: not for people, so not in the usage.
  'slurm-task': {
    load: async () => {
      const m = await import('./slurmTask.js');
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
    io.out((await subcommands[topic]!.load()).help);
    return 0;
  }
  if (!Object.hasOwn(subcommands, name)) return unknownCommand(name, io);
  const command = await subcommands[name]!.load();
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

/** The CLI as a process runs it: dist/cli.js (bin.ts) calls this in dist/mlc.js, this file's bundle. */
export function main(): void {
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

// Run as a script itself (`node --import tsx src/cli/main.ts`, or dist/mlc.js), it runs the CLI too.
if (require.main === module) main();

function isParseArgsError(e: unknown): e is Error {
  return e instanceof Error && String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
}
