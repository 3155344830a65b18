// 5. Jupyter readiness: when startJupyter() says the server is ready, against the moment the server's own log
//    says it is running (the engine's timestamp on that log line).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { machineEngine } from '../src/core/docker/machine';
import { startJupyter, stopJupyter } from '../src/core/jupyter/server';
import { createLogger } from '../src/core/log';
import type { Options, Row } from './lib';
import { dockerCli, measure, median, ok, round } from './lib';

const IMAGE = 'mlc-test/jupyter:bookworm';
const RUNNING = /is running at|Serving notebooks from|http:\/\/127\.0\.0\.1:\d+\/.*\?token=/;

export async function jupyterReadiness(o: Options): Promise<Row[]> {
  const runs = o.quick ? 3 : 7;
  const engine = machineEngine(undefined);
  const log = createLogger({ write: () => undefined }, 'bench');
  const delays: number[] = [];
  const startups: number[] = [];
  for (let i = 0; i < runs; i++) {
    // A fresh workspace each time, so a new container starts (no reuse).
    const workspace = path.join(o.scratch, `jupyter-${i}`);
    fs.mkdirSync(workspace, { recursive: true });
    const started = Date.now();
    const { server } = await startJupyter({
      engine,
      image: IMAGE,
      workspace,
      gpu: 'none',
      shmSizeBytes: 64 * 1024 ** 2,
      readyTimeoutMs: 120_000,
      log,
    });
    const ready = Date.now();
    try {
      const logs = ok(await measure(dockerCli(), ['logs', '--timestamps', server.containerId]), 'docker logs');
      const line = `${logs.stdout}\n${logs.stderr}`.split('\n').find((l) => RUNNING.test(l));
      if (!line) throw new Error(`no "is running" line in the Jupyter log of ${server.name}`);
      // RFC 3339 with nanoseconds; Date keeps milliseconds.
      const at = Date.parse(line.split(' ')[0]!.replace(/(\.\d{3})\d*Z$/, '$1Z'));
      delays.push(ready - at);
      startups.push(ready - started);
    } finally {
      await stopJupyter(engine, [server]);
    }
  }
  const ms = median(delays);
  o.log(`jupyter: ${runs} starts, readiness ${round(ms, 0)} ms after the log line (start to ready ${round(median(startups), 0)} ms)`);
  return [
    {
      benchmark: 'Jupyter readiness: startJupyter() ready vs the server log\'s "is running at" line',
      unit: 'ms',
      ours: round(ms, 0),
      anchor: 0,
      anchorName: 'server log line',
      ratio: null,
      goal: '≤ 500 ms later',
      pass: ms <= 500,
      detail: `start to ready ${round(median(startups), 0)} ms; medians of ${runs}`,
    },
  ];
}
