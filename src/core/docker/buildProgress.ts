import type * as Protobuf from 'protobufjs';
import type { BuildEvent } from './engine';

// The part of BuildKit's moby.buildkit.v1.StatusResponse (api/services/control/control.proto) that progress
// needs, as a JSON descriptor so nothing is read from disk at run time (the bundle has no .proto files).
// protobufjs is loaded with the first trace, not at import: it is ~20 ms of the extension's activation otherwise.
let statusResponse: Protobuf.Type | undefined;
function statusResponseType(): Protobuf.Type {
  if (statusResponse) return statusResponse;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const protobuf = require('protobufjs') as typeof Protobuf;
  const root = protobuf.Root.fromJSON({
    nested: {
      StatusResponse: {
        fields: {
          vertexes: { rule: 'repeated', type: 'Vertex', id: 1 },
          statuses: { rule: 'repeated', type: 'VertexStatus', id: 2 },
          logs: { rule: 'repeated', type: 'VertexLog', id: 3 },
        },
      },
      Vertex: {
        fields: {
          digest: { type: 'string', id: 1 },
          name: { type: 'string', id: 3 },
          cached: { type: 'bool', id: 4 },
          started: { type: 'Timestamp', id: 5 },
          completed: { type: 'Timestamp', id: 6 },
          error: { type: 'string', id: 7 },
        },
      },
      VertexStatus: {
        fields: {
          ID: { type: 'string', id: 1 },
          vertex: { type: 'string', id: 2 },
          name: { type: 'string', id: 3 },
          current: { type: 'int64', id: 4 },
          total: { type: 'int64', id: 5 },
        },
      },
      VertexLog: { fields: { vertex: { type: 'string', id: 1 }, stream: { type: 'int64', id: 3 }, msg: { type: 'bytes', id: 4 } } },
      Timestamp: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
    },
  });
  statusResponse = root.lookupType('StatusResponse');
  return statusResponse;
}

interface Vertex {
  digest: string;
  name: string;
  cached: boolean;
  started: boolean;
  completed: boolean;
  error: string;
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
    const type = statusResponseType();
    const decoded = type.toObject(type.decode(Buffer.from(aux, 'base64')), { longs: Number, bytes: Buffer, defaults: true }) as {
      vertexes: { digest: string; name: string; cached: boolean; started?: unknown; completed?: unknown; error: string }[];
      logs: { vertex: string; msg: Buffer }[];
    };
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
