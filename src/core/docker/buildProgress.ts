import type { BuildEvent } from './engine';
import type { Fields } from './session/wire';
import { readFields } from './session/wire';

// The part of BuildKit's moby.buildkit.v1.StatusResponse (api/services/control/control.proto) that progress
// shows, read field by field with the session's protobuf reader: protobufjs (its load and the schema it builds) was
// ~25 ms of every build's start, `mlc model save`'s most of all (bench/ row 8).
//   StatusResponse: vertexes = 1 (Vertex), logs = 3 (VertexLog)
//   Vertex: digest = 1, name = 3, cached = 4, started = 5 (Timestamp), completed = 6 (Timestamp), error = 7
//   VertexLog: vertex = 1, msg = 4
interface TraceVertex {
  digest: string;
  name: string;
  cached: boolean;
  started: boolean;
  completed: boolean;
  error: string;
}

function decodeTrace(buf: Buffer): { vertexes: TraceVertex[]; logs: { vertex: string; msg: Buffer }[] } {
  const messages = (fields: Fields, n: number): Fields[] =>
    (fields.get(n) ?? []).filter((v) => Buffer.isBuffer(v)).map((v) => readFields(v));
  const text = (fields: Fields, n: number): string => {
    const v = fields.get(n)?.at(-1);
    return Buffer.isBuffer(v) ? v.toString('utf8') : '';
  };
  const top = readFields(buf);
  return {
    vertexes: messages(top, 1).map((v) => ({
      digest: text(v, 1),
      name: text(v, 3),
      cached: Boolean(v.get(4)?.at(-1)),
      started: v.has(5),
      completed: v.has(6),
      error: text(v, 7),
    })),
    logs: messages(top, 3).map((l) => {
      const msg = l.get(4)?.at(-1);
      return { vertex: text(l, 1), msg: Buffer.isBuffer(msg) ? msg : Buffer.alloc(0) };
    }),
  };
}

/** A step as the trace last described it, and the tail of its log. */
interface Vertex extends TraceVertex {
  logTail: string[];
}

export interface BuildFailure {
  step: string;
  error: string;
  logTail: string[];
}

/**
 * Turns the engine's build stream (BuildKit traces or the classic builder's lines) into readable step lines,
 * the current step for a progress notification, and on failure the failing step with its last log lines.
 */
export class BuildProgress {
  private readonly vertexes = new Map<string, Vertex>();
  private readonly classicTail: string[] = [];
  private classicStep = '';
  private readonly classicCached: string[] = [];
  /** The classic stream's unfinished last line: Podman sends buildah's output as it is written, not line by line. */
  private classicPartial = '';
  current = '';

  /** Feeds one event; returns the lines worth logging. */
  push(event: BuildEvent): string[] {
    if (event.id === 'moby.buildkit.trace' && typeof event.aux === 'string') {
      return this.pushTrace(event.aux);
    }
    if (typeof event.stream === 'string') {
      return this.pushClassic(event.stream);
    }
    return [];
  }

  failure(message: string): BuildFailure {
    const failed = [...this.vertexes.values()].find((v) => v.error);
    if (failed) {
      return { step: failed.name, error: failed.error, logTail: failed.logTail.slice(-20) };
    }
    const tail = this.classicPartial.trim() ? [...this.classicTail, this.classicPartial] : this.classicTail;
    return { step: this.classicStep || this.current, error: message, logTail: tail.slice(-20) };
  }

  /** Steps the builder answered from its cache (BuildKit's CACHED, the classic builders' "Using cache"), for "rebuild reused the dependency layer". */
  cachedSteps(): string[] {
    return [...[...this.vertexes.values()].filter((v) => v.cached).map((v) => v.name), ...this.classicCached];
  }

  private pushTrace(aux: string): string[] {
    const decoded = decodeTrace(Buffer.from(aux, 'base64'));
    const lines: string[] = [];
    for (const v of decoded.vertexes) {
      const known = this.vertexes.get(v.digest) ?? {
        digest: v.digest,
        name: v.name,
        cached: false,
        started: false,
        completed: false,
        error: '',
        logTail: [],
      };
      this.vertexes.set(v.digest, known);
      known.name = v.name || known.name;
      if (v.started && !known.started) {
        known.started = true;
        this.current = known.name;
        lines.push(known.name);
      }
      if (v.cached && !known.cached) {
        known.cached = true;
        lines.push(`CACHED ${known.name}`);
      }
      if (v.error && !known.error) {
        known.error = v.error;
        lines.push(`ERROR ${known.name}: ${v.error}`);
      }
      if (v.completed && !known.completed) {
        known.completed = true;
      }
    }
    for (const log of decoded.logs) {
      const vertex = this.vertexes.get(log.vertex);
      for (const line of log.msg.toString('utf8').split(/\r?\n/)) {
        if (!line.trim()) continue;
        vertex?.logTail.push(line);
        if (vertex && vertex.logTail.length > 50) vertex.logTail.shift();
        lines.push(`  ${line}`);
      }
    }
    return lines;
  }

  private pushClassic(text: string): string[] {
    const all = (this.classicPartial + text).split(/\r?\n/);
    this.classicPartial = all.pop() ?? '';
    const lines = all.filter((l) => l.trim());
    for (const line of lines) {
      // Docker's classic builder says "Step 2/5 : RUN …", Podman's (buildah) "STEP 2/5: RUN …".
      const step = /^(?:Step \d+\/\d+ : |STEP \d+\/\d+: )/.exec(line);
      if (step) {
        this.classicStep = line.slice(step[0].length);
        this.current = this.classicStep;
        this.classicTail.length = 0;
      } else if (/^\s*-+> Using cache\b/.test(line)) {
        if (this.classicStep) this.classicCached.push(this.classicStep);
      } else {
        this.classicTail.push(line);
        if (this.classicTail.length > 50) this.classicTail.shift();
      }
    }
    return lines;
  }
}
