// The Slurm suites' shared fixture: the one-node cluster of scripts/test-slurm.sh, a small project whose train.py
// says what its task saw, and `mlc run --on slurm` / `mlc runs` through the bundled CLI.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import type { RunRecord } from '../../src/core/run/records';
import { git } from './git';
import { silentLogger } from './logger';
import { mlc } from './mlc';
import { devcontainerProject } from './project';

/** The value train.py looks for in MLC_TEST_TOKEN: a secret the tests pass by name and then look for in files. */
export const SLURM_TEST_SECRET = 's3cr3t-slurm-task';

// Prints its config, the GPU variables and what of the job's environment it sees, writes a metric from lr, and
// sleeps when the config says so.
const TRAIN = `import json, os, time
text = open(os.environ["MLC_CONFIG"]).read()
cfg = dict(l.split(": ", 1) for l in text.splitlines() if ": " in l)
print("config", text.replace("\\n", " "))
print("CUDA_VISIBLE_DEVICES=%s NVIDIA_VISIBLE_DEVICES=%s" % (os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("NVIDIA_VISIBLE_DEVICES")))
print("cwd=%s charliecloud=%s slurm_job=%s" % (os.getcwd(), "CH_RUNNING" in os.environ, os.environ.get("SLURM_JOB_ID")))
print("token %s" % ("given" if os.environ.get("MLC_TEST_TOKEN") == "${SLURM_TEST_SECRET}" else "missing"), flush=True)
with open(os.path.join(os.environ["MLC_RUN_DIR"], "metrics.jsonl"), "w") as f:
    f.write(json.dumps({"step": 1, "loss": float(cfg.get("lr", "1")) * int(cfg.get("batch_size", "1"))}) + "\\n")
time.sleep(float(cfg.get("sleep", "0")))
`;

/** A command the suite needs on PATH beside Slurm, and how to ask it for its version. */
export interface SlurmTool {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** What is missing when it does not answer, e.g. "Charliecloud is not installed". */
  missing: string;
}

/**
 * What scripts/test-slurm.sh sets up: a controller that answers with an idle node, and `tools`. Skipped with the
 * reason where absent; a failure under CI=true, where the set-up script has run.
 */
export function requireSlurm(context: Mocha.Context, tools: SlurmTool[] = []): void {
  let reason: string | undefined;
  try {
    const state = execFileSync('sinfo', ['-h', '-o', '%T'], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
    if (!/^(idle|mixed|allocated|completing)/m.test(state)) reason = `the Slurm node is "${state || 'absent'}", not idle`;
  } catch (e) {
    reason =
      (e as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'sinfo is not on PATH'
        : `sinfo failed: ${String((e as { stderr?: string }).stderr ?? e).trim()}`;
  }
  for (const tool of tools) {
    if (reason) break;
    try {
      execFileSync(tool.command, tool.args, { stdio: 'ignore', timeout: 10_000, env: { ...process.env, ...tool.env } });
    } catch {
      reason = `${tool.command} is not on PATH (${tool.missing})`;
    }
  }
  if (!reason) return;
  if (process.env.CI === 'true') throw new Error(`CI=true but Slurm is not usable: ${reason} (run scripts/test-slurm.sh first)`);
  console.log(`      skipped: ${reason}; run scripts/test-slurm.sh to set up a one-node cluster`);
  context.skip();
}

/** Polls `probe` every half second until it answers something. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
    const v = await probe();
    if (v !== undefined) return v;
  }
  throw new Error(`gave up waiting for ${what}`);
}

/**
 * A git project built on `base` with train.py and configs/: sweep.yaml (2×2), one.yaml (one point), long.yaml (ten
 * minutes asleep); its experiment image's tags are in `images`.
 */
export async function slurmProject(engine: Engine, base: string, name: string): Promise<{ dir: string; images: string[] }> {
  const dir = devcontainerProject(
    `FROM ${base}\nCOPY . /workspace\n`,
    {
      '.gitignore': '.mlcontainers/\n',
      'train.py': TRAIN,
      'configs/sweep.yaml': 'lr: [0.1, 0.01]\nbatch_size: [32, 64]\n',
      'configs/one.yaml': 'lr: 0.5\n',
      'configs/long.yaml': 'sleep: 600\n',
    },
    name,
  );
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', name);
  const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
  return { dir, images: built.tags };
}

/** `mlc run --on slurm --json ARGS` in `dir`; the job is added to `jobs` for the suite's scancel. */
export async function submitSlurm(
  dir: string,
  args: string[],
  jobs: string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ runs: string[]; job: string; sweep: string | null; stderr: string }> {
  const r = await mlc(['run', '--on', 'slurm', '--json', ...args], { cwd: dir, ...(env ? { env } : {}) });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { runs: string[]; job: string; sweep: string | null };
  jobs.push(out.job);
  return { ...out, stderr: r.stderr };
}

/** `mlc runs` (which reconciles with squeue and sacct) until every run of these ids has its final line. */
export function slurmFinals(dir: string, ids: string[]): Promise<RunRecord[]> {
  return until(`final records of ${ids.join(', ')}`, async () => {
    const listed = await mlc(['runs', '--json', '--last', '0'], { cwd: dir });
    const runs = listed.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as RunRecord)
      .filter((r) => ids.includes(r.id));
    return runs.length === ids.length && runs.every((r) => r.status !== 'running') ? runs : undefined;
  });
}

/** The suite's end: its jobs cancelled, its images and its project removed. */
export async function cleanUpSlurm(engine: Engine | undefined, jobs: string[], images: string[], dir: string | undefined): Promise<void> {
  if (jobs.length) execFileSync('scancel', jobs);
  for (const ref of images) await engine?.removeImage(ref, { force: true }).catch(() => undefined);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** The batch script kept beside a plan. */
export function keptScript(dir: string, planId: string): string {
  return fs.readFileSync(path.join(dir, '.mlcontainers', 'sweeps', `${planId}.sbatch`), 'utf8');
}
