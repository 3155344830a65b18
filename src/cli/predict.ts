import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { slurmBackend } from '../core/backends/slurm/backend';
import type { SlurmFlags } from '../core/backends/slurm/backend';
import { slurmShardArray } from '../core/backends/slurm/predict';
import { MAX_SHARDS, OUTPUT_FILE, predictBatch } from '../core/model/predict';
import { templatesDir } from '../core/scaffold/templateFiles';
import type { CliIO } from './io';
import { UsageError, cliLogger } from './io';

export const predictHelp = `mlc predict MODEL --input PATH --output DIR [--shards N] [--batch ROWS] [--on slurm [SLURM OPTIONS]] [--dir DIR] [--predict FILE] [--json] [--host URL]
mlc predict MODEL --input PATH --output DIR --resume | --shard K [--on slurm [SLURM OPTIONS]]

Applies a model image's predict(model, inputs) (\`mlc model save\`) to a whole data set, in N shards of contiguous
rows that run as parallel containers of the image, without network, with the input mounted read-only. The input
is a .jsonl file (one object of named inputs per line: {"pixels": [...]}), a .csv file (a header of input names;
a cell that parses as JSON is that value, else the string), or a folder (each regular file at its top is a row
{"path": FILE}, in byte order of the names). DIR/predictions.jsonl holds one line per input row, in input order:
{"row": i, "key": i or the file's name, "outputs": {...}}; DIR/predict.json records the job (the model's image
id and run, the input's fingerprint, each shard, the output's sha256). A shard that fails is named; the others'
predictions are kept, and --resume reruns only the shards without them.

  --input PATH      the data set: a .jsonl or .csv file, or a folder of files
  --output DIR      where the predictions and the record go (one job per folder)
  --shards N        containers in parallel (default: 1; at most ${MAX_SHARDS}, and at most one per batch:
                    shards are cut between batches, so their predictions are one shard's)
  --batch ROWS      rows per predict() call (default: 256)
  --resume          rerun the shards of the job in DIR that have no good predictions, then merge
  --shard K         rerun shard K of the job in DIR (its predictions are written anew), then merge
  --dir DIR         project folder whose predict.py is used when the image carries none (default: .)
  --predict FILE    this predict.py instead of the image's own
  --json            print the job's record (DIR/predict.json) on stdout
  --host URL        Docker host instead of DOCKER_HOST / the docker context

On Slurm (--on slurm): the shards to run become one array job (task K runs shard K's container with \`docker run\`
on the node, into DIR/shards/K, as a local shard does); \`mlc predict\` waits for the array, then checks and merges.
The script and the tasks' logs are kept in DIR/slurm/; the record names the job. The nodes need Docker, the model
image and DIR at the same path. Takes the Slurm options of \`mlc run --on slurm\`:
  --runtime docker  --partition P  --time T  --cpus-per-task N  --mem M  --gres G  --account A  --sbatch-arg OPT`;

export async function predict(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      input: { type: 'string' },
      output: { type: 'string' },
      shards: { type: 'string' },
      batch: { type: 'string', default: '256' },
      resume: { type: 'boolean', default: false },
      shard: { type: 'string' },
      dir: { type: 'string', default: '.' },
      predict: { type: 'string' },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
      on: { type: 'string' },
      ...slurmBackend.flags.options,
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1)
    throw new UsageError('name one model: mlc predict MODEL --input PATH --output DIR (`mlc models` lists them).');
  if (values.input === undefined || values.output === undefined)
    throw new UsageError('pass the data set and a folder for the predictions: --input PATH --output DIR.');
  const count = (flag: string, value: string | undefined, max: number): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`--${flag} wants a whole number up to ${max}, not "${value}"`);
    return n;
  };
  const shards = count('shards', values.shards, MAX_SHARDS);
  if (shards === 0) throw new UsageError('--shards wants at least 1');
  const batch = count('batch', values.batch, 1_000_000)!;
  if (batch === 0) throw new UsageError('--batch wants at least 1 row');
  const shard = count('shard', values.shard, MAX_SHARDS - 1);
  if (values.resume && shard !== undefined) throw new UsageError('pass --resume or --shard K, not both');
  if (values.on !== undefined && values.on !== 'slurm')
    throw new UsageError(`--on takes slurm (or leave it out to run here), not "${values.on}"`);
  const slurmGiven = Object.keys(slurmBackend.flags.options).filter((k) => (values as Record<string, unknown>)[k] !== undefined);
  if (values.on === undefined && slurmGiven.length) throw new UsageError(`--${slurmGiven[0]} is a Slurm option: add --on slurm`);
  const array =
    values.on === 'slurm'
      ? slurmShardArray(slurmBackend.flags.parse(values) as SlurmFlags, values.host !== undefined ? { dockerHost: values.host } : {})
      : undefined;

  const record = await predictBatch({
    engine: machineEngine(values.host, {}, io.env),
    model: positionals[0]!,
    input: values.input,
    outDir: values.output,
    ...(shards !== undefined ? { shards } : {}),
    resume: values.resume,
    ...(shard !== undefined ? { shard } : {}),
    batch,
    workspace: path.resolve(values.dir),
    ...(values.predict !== undefined ? { predict: values.predict } : {}),
    templatesDir: templatesDir(),
    ...(array ? { array } : {}),
    log: cliLogger(io, 'predict'),
    signal,
  });
  if (values.json) io.out(JSON.stringify(record));
  else
    io.out(`${record.output?.rows ?? 0} predictions in ${path.join(values.output, OUTPUT_FILE)} (sha256 ${record.output?.sha256 ?? ''})`);
  return 0;
}
