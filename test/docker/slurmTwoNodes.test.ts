import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Engine } from '../../src/core/docker/engine';
import { requireSlurm } from '../helpers/slurm';
import { STANDIN_DEBIAN, requireEngine, requireImage, requireKind } from './harness';

const run = (command: string, args: string[]) =>
  execFileSync(command, args, { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });

/** One line per task of a two-node step in partition multi, ordered by node id. */
const acrossNodes = (script: string) =>
  run('srun', ['-N2', '-p', 'multi', '--ntasks-per-node=1', '--time=2', 'bash', '-c', script]).trim().split('\n').sort();

describe('the two-node Slurm test world (scripts/test-slurm.sh: partition multi, a second slurmd in a network namespace)', function () {
  const host = os.hostname().split('.')[0];
  let engine: Engine;

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(this, engine, 'docker', "the nodes share the machine's dockerd, which the Podman pass does not change");
    requireSlurm(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    const partitions = run('sinfo', ['-h', '-o', '%P']);
    if (!/^multi$/m.test(partitions)) {
      const reason = 'partition multi is absent: the second node needs CAP_NET_ADMIN for its network namespace';
      if (process.env.CI === 'true') throw new Error(`CI=true but ${reason} (run scripts/test-slurm.sh first)`);
      console.log(`      skipped: ${reason}; run scripts/test-slurm.sh as root`);
      this.skip();
    }
  });

  it("has two nodes in multi, the host's first (rank 0 of a job lands there), and leaves debug to the host's node", () => {
    assert.deepEqual(run('sinfo', ['-h', '-N', '-p', 'multi', '-o', '%N']).trim().split('\n'), [host, `${host}-2`]);
    assert.deepEqual(run('sinfo', ['-h', '-N', '-p', 'debug', '-o', '%N']).trim().split('\n'), [host]);
    for (const state of run('sinfo', ['-h', '-N', '-p', 'multi', '-o', '%T']).trim().split('\n')) {
      assert.match(state, /^(idle|mixed|allocated|completing)$/);
    }
  });

  it('runs one task on each node: node ids 0 and 1, distinct hostnames, distinct network namespaces', () => {
    const lines = acrossNodes('echo "$SLURM_NODEID $(hostname) $SLURMD_NODENAME $(readlink /proc/self/ns/net)"');
    const rows = lines.map((l) => l.split(' '));
    assert.deepEqual(
      rows.map((r) => r.slice(0, 3)),
      [
        ['0', host, host],
        ['1', `${host}-2`, `${host}-2`],
      ],
    );
    assert.notEqual(rows[0][3], rows[1][3], 'the second node has a network of its own');
  });

  it("starts a --network host container from each node through the one dockerd, both in the host's network", () => {
    const hostNet = fs.readlinkSync('/proc/self/ns/net');
    const lines = acrossNodes(`echo "$SLURM_NODEID $(docker run --rm --network host ${STANDIN_DEBIAN} readlink /proc/self/ns/net)"`);
    assert.deepEqual(lines, [`0 ${hostNet}`, `1 ${hostNet}`]);
  });
});
