import type * as fs from 'node:fs';
import { openRunFileForRead } from '../untrustedFile';
import type * as Protobuf from 'protobufjs';
import type { PointSink } from './points';
import { shortestFloat32 } from './points';

// The parts of TensorFlow's Event, Summary and TensorProto (tensorflow/core/util/event.proto, framework/summary.proto,
// framework/tensor.proto) that hold scalars, as a JSON descriptor: nothing is read from disk at run time. Fields left
// out (images, histograms, graphs) are skipped by the decoder. protobufjs is required with the first event file, not
// at import: it is ~20 ms of the extension's activation otherwise.
let eventType: Protobuf.Type | undefined;
function eventDecoder(): Protobuf.Type {
  if (eventType) return eventType;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const protobuf = require('protobufjs') as typeof Protobuf;
  const root = protobuf.Root.fromJSON({
    nested: {
      Event: { fields: { wallTime: { type: 'double', id: 1 }, step: { type: 'int64', id: 2 }, summary: { type: 'Summary', id: 5 } } },
      Summary: { fields: { value: { rule: 'repeated', type: 'Value', id: 1 } } },
      Value: {
        oneofs: { value: { oneof: ['simpleValue', 'tensor'] } },
        fields: {
          tag: { type: 'string', id: 1 },
          simpleValue: { type: 'float', id: 2 },
          tensor: { type: 'TensorProto', id: 8 },
          metadata: { type: 'SummaryMetadata', id: 9 },
        },
      },
      SummaryMetadata: { fields: { pluginData: { type: 'PluginData', id: 1 } } },
      PluginData: { fields: { pluginName: { type: 'string', id: 1 } } },
      TensorProto: {
        fields: {
          dtype: { type: 'int32', id: 1 },
          tensorShape: { type: 'TensorShapeProto', id: 2 },
          tensorContent: { type: 'bytes', id: 4 },
          floatVal: { rule: 'repeated', type: 'float', id: 5 },
          doubleVal: { rule: 'repeated', type: 'double', id: 6 },
        },
      },
      TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dim', id: 2 } } },
      Dim: { fields: { size: { type: 'int64', id: 1 } } },
    },
  });
  eventType = root.lookupType('Event');
  return eventType;
}

type Int64 = number | { toNumber(): number } | { low: number; high: number };
interface TensorProto {
  dtype: number;
  tensorShape?: { dim: { size: Int64 }[] } | null;
  tensorContent: Uint8Array;
  floatVal: number[];
  doubleVal: number[];
}
interface SummaryValue {
  tag: string;
  value?: 'simpleValue' | 'tensor';
  simpleValue: number;
  tensor?: TensorProto | null;
  metadata?: { pluginData?: { pluginName: string } | null } | null;
}
interface TfEvent {
  step: Int64;
  summary?: { value: SummaryValue[] } | null;
}

const DT_FLOAT = 1;
const DT_DOUBLE = 2;

/**
 * The scalars of one TensorBoard event file: TFRecord framing (uint64 length, masked CRC-32C of the length, the
 * data, masked CRC-32C of the data) around Event protos. Both the old `simple_value` and the tensor form TF2 and
 * PyTorch's new-style writers use (a one-element DT_FLOAT or DT_DOUBLE tensor) are read. A record whose data fails
 * its CRC is skipped and counted; a length that fails its CRC, or a truncated tail, ends the file (counted once),
 * since the framing after it cannot be trusted.
 */
export async function readEventFile(file: string, prefix: string, sink: PointSink): Promise<void> {
  const allowance = sink.allowance();
  if (allowance <= 0) return sink.consumed(file, 0, true);
  // The one place an event file is opened.
  const handle = await openRunFileForRead(file, sink.root);
  const read = { bytes: 0, cut: false };
  try {
    const plugins = new Map<string, string>();
    for await (const data of records(handle, sink, allowance, read)) {
      let event: TfEvent;
      try {
        event = eventDecoder().decode(data) as unknown as TfEvent;
      } catch {
        sink.skip();
        continue;
      }
      if (!event.summary) continue;
      const step = int64(event.step);
      for (const v of event.summary.value) {
        // TF2 writers send a tag's metadata with its first value only; later values of a histogram or text tag
        // are tensors that must not be taken for scalars.
        const plugin = v.metadata?.pluginData?.pluginName;
        if (plugin && !plugins.has(v.tag)) plugins.set(v.tag, plugin);
        const value = scalarValue(v, plugins.get(v.tag));
        if (value !== undefined) sink.point(prefix + v.tag, step, value);
      }
    }
  } finally {
    await handle.close();
    sink.consumed(file, read.bytes, read.cut);
  }
}

function scalarValue(v: SummaryValue, plugin: string | undefined): number | undefined {
  if (v.value === 'simpleValue') return shortestFloat32(v.simpleValue);
  if (v.value !== 'tensor' || !v.tensor || (plugin !== undefined && plugin !== 'scalars')) return undefined;
  const t = v.tensor;
  const elements = (t.tensorShape?.dim ?? []).reduce((n, d) => n * int64(d.size), 1);
  if (elements !== 1) return undefined;
  // An absent bytes field decodes as protobufjs' shared empty array, not a Buffer.
  const content =
    t.tensorContent.length > 0
      ? Buffer.from(t.tensorContent.buffer, t.tensorContent.byteOffset, t.tensorContent.byteLength)
      : Buffer.alloc(0);
  if (t.dtype === DT_FLOAT) {
    if (t.floatVal.length === 1) return shortestFloat32(t.floatVal[0]!);
    if (content.length === 4) return shortestFloat32(content.readFloatLE(0));
  } else if (t.dtype === DT_DOUBLE) {
    if (t.doubleVal.length === 1) return t.doubleVal[0];
    if (content.length === 8) return content.readDoubleLE(0);
  }
  return undefined;
}

function int64(v: Int64): number {
  if (typeof v === 'number') return v;
  if ('toNumber' in v) return v.toNumber();
  return v.high * 0x1_0000_0000 + (v.low >>> 0);
}

// Past this a record is a graph, an image or an embedding, never a scalar: it is stepped over unread.
const MAX_RECORD_BYTES = 16 << 20;

/** The records of an event file, reading no more than `allowance` bytes (records stepped over cost nothing). */
async function* records(
  handle: fs.promises.FileHandle,
  sink: PointSink,
  allowance: number,
  read: { bytes: number; cut: boolean },
): AsyncGenerator<Buffer> {
  let buf = Buffer.alloc(1 << 20);
  let start = 0;
  let end = 0;
  let position = 0;
  let eof = false;
  const fill = async (need: number): Promise<boolean> => {
    while (end - start < need) {
      if (eof) return false;
      if (start > 0) {
        buf.copy(buf, 0, start, end);
        end -= start;
        start = 0;
      }
      if (need > buf.length) {
        const bigger = Buffer.alloc(need);
        buf.copy(bigger, 0, 0, end);
        buf = bigger;
      }
      const room = Math.min(buf.length - end, allowance - read.bytes);
      if (room <= 0) {
        read.cut = true;
        return false;
      }
      const { bytesRead } = await handle.read(buf, end, room, position);
      read.bytes += bytesRead;
      position += bytesRead;
      end += bytesRead;
      eof = bytesRead === 0;
    }
    return true;
  };
  for (;;) {
    if (!(await fill(12))) {
      if (end > start && !read.cut) sink.skip();
      return;
    }
    if (maskedCrc32c(buf.subarray(start, start + 8)) !== buf.readUInt32LE(start + 8)) {
      sink.skip();
      return;
    }
    const length = Number(buf.readBigUInt64LE(start));
    if (length > MAX_RECORD_BYTES) {
      position += length + 4 - (end - start - 12);
      start = end = 0;
      continue;
    }
    if (!(await fill(12 + length + 4))) {
      if (!read.cut) sink.skip();
      return;
    }
    const data = buf.subarray(start + 12, start + 12 + length);
    const ok = maskedCrc32c(data) === buf.readUInt32LE(start + 12 + length);
    start += 12 + length + 4;
    if (ok) yield data;
    else sink.skip();
  }
}

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). No package we depend on has it; Node's zlib.crc32 is the
// IEEE polynomial, and only from Node 22.
const CRC32C_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

export function crc32c(data: Uint8Array): number {
  let crc = -1;
  for (let i = 0; i < data.length; i++) crc = CRC32C_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** TFRecord's CRC: rotated right by 15 bits plus a constant, so a CRC stored in the data does not checksum to 0. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}
