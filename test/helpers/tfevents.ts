import * as protobuf from 'protobufjs';
import { maskedCrc32c } from '../../src/core/metrics/tensorboard';

// Writes TensorBoard event files the way TensorFlow's EventsWriter does (TFRecord framing around Event protos),
// encoding the protos field by field with protobufjs' low-level Writer, not with the reader's message definitions,
// so a wrong field number on either side shows.

export type TfValue =
  | { tag: string; simple: number }
  | { tag: string; floatVal: number; shape?: number[]; plugin?: string }
  | { tag: string; content: number; dtype: 'float' | 'double'; plugin?: string }
  | { tag: string; doubles: number[]; shape: number[]; plugin?: string };

export function eventRecord(step: number, values: TfValue[], wallTime = 1_700_000_000.5): Buffer {
  const summary = protobuf.Writer.create();
  for (const v of values) summary.uint32((1 << 3) | 2).bytes(valueBytes(v));
  const event = protobuf.Writer.create()
    .uint32((1 << 3) | 1)
    .double(wallTime)
    .uint32((2 << 3) | 0)
    .int64(step)
    .uint32((5 << 3) | 2)
    .bytes(summary.finish());
  return frame(Buffer.from(event.finish()));
}

/** The first record every writer puts in a file: an Event with only `file_version`. */
export function fileVersionRecord(): Buffer {
  const event = protobuf.Writer.create()
    .uint32((1 << 3) | 1)
    .double(1_700_000_000)
    .uint32((3 << 3) | 2)
    .string('brain.Event:2');
  return frame(Buffer.from(event.finish()));
}

export function frame(data: Buffer): Buffer {
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(data.length));
  const crc = (b: Buffer): Buffer => {
    const out = Buffer.alloc(4);
    out.writeUInt32LE(maskedCrc32c(b));
    return out;
  };
  return Buffer.concat([length, crc(length), data, crc(data)]);
}

function valueBytes(v: TfValue): Uint8Array {
  const w = protobuf.Writer.create()
    .uint32((1 << 3) | 2)
    .string(v.tag);
  if ('simple' in v)
    return w
      .uint32((2 << 3) | 5)
      .float(v.simple)
      .finish();
  if (v.plugin) {
    const pluginData = protobuf.Writer.create()
      .uint32((1 << 3) | 2)
      .string(v.plugin)
      .finish();
    const metadata = protobuf.Writer.create()
      .uint32((1 << 3) | 2)
      .bytes(pluginData)
      .finish();
    w.uint32((9 << 3) | 2).bytes(metadata);
  }
  const tensor = protobuf.Writer.create();
  const shape = (dims: number[]): Uint8Array => {
    const s = protobuf.Writer.create();
    for (const d of dims)
      s.uint32((2 << 3) | 2).bytes(
        protobuf.Writer.create()
          .uint32((1 << 3) | 0)
          .int64(d)
          .finish(),
      );
    return s.finish();
  };
  if ('floatVal' in v) {
    tensor.uint32((1 << 3) | 0).int32(1);
    if (v.shape) tensor.uint32((2 << 3) | 2).bytes(shape(v.shape));
    tensor
      .uint32((5 << 3) | 2)
      .fork()
      .float(v.floatVal)
      .ldelim();
  } else if ('content' in v) {
    const content = Buffer.alloc(v.dtype === 'float' ? 4 : 8);
    if (v.dtype === 'float') content.writeFloatLE(v.content);
    else content.writeDoubleLE(v.content);
    tensor
      .uint32((1 << 3) | 0)
      .int32(v.dtype === 'float' ? 1 : 2)
      .uint32((2 << 3) | 2)
      .bytes(shape([]))
      .uint32((4 << 3) | 2)
      .bytes(content);
  } else {
    tensor
      .uint32((1 << 3) | 0)
      .int32(2)
      .uint32((2 << 3) | 2)
      .bytes(shape(v.shape));
    tensor.uint32((6 << 3) | 2).fork();
    for (const d of v.doubles) tensor.double(d);
    tensor.ldelim();
  }
  return w
    .uint32((8 << 3) | 2)
    .bytes(tensor.finish())
    .finish();
}
