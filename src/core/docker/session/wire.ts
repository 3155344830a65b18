// The few protobuf messages a BuildKit session exchanges, encoded by hand: fsutil's Packet and Stat, the Auth
// service's request and answer, the health check. Five small messages do not need a schema compiler at run time
// (protobufjs would add its load to every `mlc build`), and a STAT packet per context entry is the hot path of a
// sync: writing its bytes directly keeps it cheap.

/** fsutil types.Packet.PacketType. */
export const enum PacketType {
  Stat = 0,
  Req = 1,
  Data = 2,
  Fin = 3,
  Err = 4,
}

/** fsutil types.Stat, as the sender fills it (no xattrs, no devices: the context holds neither). */
export interface WireStat {
  path: string;
  /** Go's os.FileMode bits (see goFileMode), not the Unix st_mode. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Nanoseconds since the epoch (as decoded; a sender may give modTime instead). */
  modTimeNs?: bigint;
  /** The same time as whole milliseconds and the nanoseconds past them, which encode without BigInt. */
  modTime?: { ms: number; ns: number };
  linkname?: string;
}

export interface Packet {
  type: PacketType;
  stat?: WireStat;
  id: number;
  data?: Buffer;
}

const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;
const MODE_SETUID = 2 ** 23;
const MODE_SETGID = 2 ** 22;
const MODE_STICKY = 2 ** 20;

/** A Unix mode (permission and set-id bits) as Go's os.FileMode, which fsutil puts in Stat.mode. */
export function goFileMode(type: 'file' | 'directory' | 'symlink', unixMode: number): number {
  let mode = unixMode & 0o777;
  if (unixMode & 0o4000) mode += MODE_SETUID;
  if (unixMode & 0o2000) mode += MODE_SETGID;
  if (unixMode & 0o1000) mode += MODE_STICKY;
  if (type === 'directory') mode += MODE_DIR;
  if (type === 'symlink') mode += MODE_SYMLINK;
  return mode;
}

/** Whether the receiver may ask for a file's data: regular files only (fsutil's fileCanRequestData). */
export function canRequestData(goMode: number): boolean {
  // Every type bit of os.FileMode (ModeDir 2^31 … ModeIrregular 2^19) is either ≥ 2^24 or one of the two below it.
  return goMode < 2 ** 24 && (Math.floor(goMode / 2 ** 21) & 1) === 0 && (Math.floor(goMode / 2 ** 19) & 1) === 0;
}

/** A growable protobuf writer: varints, length-delimited fields. */
export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  reset(): void {
    this.pos = 0;
  }

  get length(): number {
    return this.pos;
  }

  varint(value: number): this {
    this.ensure(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  /** An unsigned 64-bit varint given as its high and low 32-bit halves (no BigInt on the hot path). */
  varint64(hi: number, lo: number): this {
    this.ensure(10);
    let h = hi >>> 0;
    let l = lo >>> 0;
    while (h > 0 || l > 0x7f) {
      this.buf[this.pos++] = (l & 0x7f) | 0x80;
      l = ((l >>> 7) | (h << 25)) >>> 0;
      h >>>= 7;
    }
    this.buf[this.pos++] = l;
    return this;
  }

  bigVarint(value: bigint): this {
    this.ensure(10);
    // int64 as protobuf writes it: negative values as their two's complement in 64 bits.
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
    return this;
  }

  /** A varint field; proto3 leaves zero out. */
  uintField(field: number, value: number): this {
    return value ? this.varint(field * 8).varint(value) : this;
  }

  bytesField(field: number, value: Buffer | string | undefined): this {
    if (value === undefined || value.length === 0) return this;
    const n = typeof value === 'string' ? Buffer.byteLength(value) : value.length;
    this.varint(field * 8 + 2).varint(n);
    this.ensure(n);
    if (typeof value === 'string') this.buf.write(value, this.pos);
    else value.copy(this.buf, this.pos);
    this.pos += n;
    return this;
  }

  /** A gRPC message header: not compressed, then the message's length (big-endian 32 bits). */
  frameHeader(length: number): this {
    this.ensure(5);
    this.buf[this.pos] = 0;
    this.buf.writeUInt32BE(length, this.pos + 1);
    this.pos += 5;
    return this;
  }

  /** Raw bytes, for an embedded message whose length prefix was written. */
  raw(value: Buffer): this {
    this.ensure(value.length);
    value.copy(this.buf, this.pos);
    this.pos += value.length;
    return this;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

const TWO_32 = 2 ** 32;

function writeStat(w: ProtoWriter, stat: WireStat): void {
  w.bytesField(1, stat.path).uintField(2, stat.mode).uintField(3, stat.uid).uintField(4, stat.gid).uintField(5, stat.size);
  if (stat.modTime) {
    // ms · 10^6 + ns in 64 bits: the low half of ms times 10^6 stays below 2^53, so every step is exact.
    const { ms, ns } = stat.modTime;
    const msHi = Math.floor(ms / TWO_32);
    const low = (ms - msHi * TWO_32) * 1e6 + ns;
    const carry = Math.floor(low / TWO_32);
    w.varint(6 * 8).varint64(msHi * 1e6 + carry, low - carry * TWO_32);
  } else if (stat.modTimeNs) {
    w.varint(6 * 8).bigVarint(stat.modTimeNs);
  }
  w.bytesField(7, stat.linkname);
}

/** One writer for every stat: encoding a packet copies out only the finished bytes. */
const scratch = new ProtoWriter(4096);

export function encodePacket(p: Packet): Buffer {
  let stat: Buffer | undefined;
  if (p.stat) {
    scratch.reset();
    writeStat(scratch, p.stat);
    stat = scratch.finish();
  }
  const w = new ProtoWriter(16 + (stat?.length ?? 0) + (p.data?.length ?? 0));
  w.uintField(1, p.type);
  if (stat) w.bytesField(2, stat);
  w.uintField(3, p.id).bytesField(4, p.data);
  return w.finish();
}

const packetScratch = new ProtoWriter(4096);

/**
 * Appends one STAT packet as a gRPC frame to `out` (no stat: the empty STAT that ends a listing): the bytes of
 * grpcFrame(encodePacket({type: Stat, id: 0, stat})), without a buffer per packet. A context lists tens of thousands.
 */
export function appendStatFrame(out: ProtoWriter, stat?: WireStat): void {
  packetScratch.reset();
  packetScratch.uintField(1, PacketType.Stat);
  if (stat) {
    scratch.reset();
    writeStat(scratch, stat);
    packetScratch.bytesField(2, scratch.finish());
  }
  const packet = packetScratch.finish();
  out.frameHeader(packet.length).raw(packet);
}

/** Field number → the values read (varints as numbers or bigints past 2^53, length-delimited as Buffers). */
export type Fields = Map<number, (number | bigint | Buffer)[]>;

export function readFields(buf: Buffer): Fields {
  const fields: Fields = new Map();
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated protobuf varint');
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    let value: number | bigint | Buffer;
    switch (key & 7) {
      case 0: {
        const v = varint();
        value = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
        break;
      }
      case 2: {
        const n = Number(varint());
        if (pos + n > buf.length) throw new Error('truncated protobuf field');
        value = buf.subarray(pos, pos + n);
        pos += n;
        break;
      }
      case 1:
        value = buf.subarray(pos, (pos += 8));
        break;
      case 5:
        value = buf.subarray(pos, (pos += 4));
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${key & 7}`);
    }
    const list = fields.get(field);
    if (list) list.push(value);
    else fields.set(field, [value]);
  }
  return fields;
}

function num(fields: Fields, field: number): number {
  const v = fields.get(field)?.at(-1);
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0;
}

function bytes(fields: Fields, field: number): Buffer | undefined {
  const v = fields.get(field)?.at(-1);
  return Buffer.isBuffer(v) ? v : undefined;
}

export function decodeStat(buf: Buffer): WireStat {
  const f = readFields(buf);
  const mtime = f.get(6)?.at(-1);
  const linkname = bytes(f, 7)?.toString('utf8');
  return {
    path: bytes(f, 1)?.toString('utf8') ?? '',
    mode: num(f, 2),
    uid: num(f, 3),
    gid: num(f, 4),
    size: num(f, 5),
    modTimeNs: typeof mtime === 'bigint' ? BigInt.asIntN(64, mtime) : BigInt(typeof mtime === 'number' ? mtime : 0),
    ...(linkname ? { linkname } : {}),
  };
}

export function decodePacket(buf: Buffer): Packet {
  const f = readFields(buf);
  const stat = bytes(f, 2);
  const data = bytes(f, 4);
  return { type: num(f, 1) as PacketType, id: num(f, 3), ...(stat ? { stat: decodeStat(stat) } : {}), ...(data ? { data } : {}) };
}

/** moby.filesync.v1.CredentialsRequest: the registry host BuildKit is about to pull from. */
export function decodeCredentialsRequest(buf: Buffer): { host: string } {
  return { host: bytes(readFields(buf), 1)?.toString('utf8') ?? '' };
}

/** moby.filesync.v1.CredentialsResponse; an empty one means "pull anonymously". */
export function encodeCredentialsResponse(answer: { username: string; secret: string } | undefined): Buffer {
  return answer ? new ProtoWriter().bytesField(1, answer.username).bytesField(2, answer.secret).finish() : Buffer.alloc(0);
}

/** grpc.health.v1.HealthCheckResponse { status: SERVING }. */
export const HEALTH_SERVING = Buffer.from([0x08, 0x01]);

/** gRPC's length-prefixed message: a compression flag (0), a 4-byte big-endian length, the message. */
export function grpcFrame(message: Buffer): Buffer {
  return new ProtoWriter(5 + message.length).frameHeader(message.length).raw(message).finish();
}

/** Splits a byte stream into gRPC messages; `push` returns the messages completed by this chunk. */
export class GrpcDeframer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  push(chunk: Buffer): Buffer[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: Buffer[] = [];
    let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    while (buf.length >= 5) {
      if (buf[0] !== 0) throw new Error('compressed gRPC messages are not supported');
      const n = buf.readUInt32BE(1);
      if (buf.length < 5 + n) break;
      out.push(buf.subarray(5, 5 + n));
      buf = buf.subarray(5 + n);
    }
    this.pending = buf.length ? [buf] : [];
    this.pendingBytes = buf.length;
    return out;
  }
}
