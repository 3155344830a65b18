import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { filterEntries, scanContext } from '../../../../src/core/docker/buildContext';
import { wireStat } from '../../../../src/core/docker/session/fileSync';
import { BuildSession } from '../../../../src/core/docker/session/session';
import {
  GrpcDeframer,
  PacketType,
  ProtoWriter,
  appendStatFrame,
  canRequestData,
  decodePacket,
  encodePacket,
  goFileMode,
  grpcFrame,
  readFields,
} from '../../../../src/core/docker/session/wire';
import { writeFixture } from '../../../fixtures/contextCases';

/** The engine's side of a session: an HTTP/2 client on the connection the session serves. */
async function connect(session: BuildSession): Promise<{ client: http2.ClientHttp2Session; close: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-sess-'));
  const sock = path.join(dir, 's');
  const server = net.createServer((s) => session.attach(s));
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  const client = http2.connect('http://session', { createConnection: () => net.connect(sock) });
  return {
    client,
    close: () => {
      client.close();
      session.close();
      server.close();
    },
  };
}

/** One gRPC call: sends `requests` (a function may answer what arrived), collects the answers and the status. */
function call(
  client: http2.ClientHttp2Session,
  method: string,
  metadata: Record<string, string | string[]>,
  onMessage: (m: Buffer, send: (b: Buffer) => void, end: () => void) => void,
  first: Buffer[] = [],
): Promise<{ messages: Buffer[]; status: string | undefined }> {
  return new Promise((resolve, reject) => {
    const stream = client.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers', ...metadata });
    const messages: Buffer[] = [];
    const deframer = new GrpcDeframer();
    let status: string | undefined;
    stream.on('trailers', (t) => (status = String(t['grpc-status'])));
    stream.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
    });
    stream.on('data', (chunk: Buffer) => {
      for (const m of deframer.push(chunk)) {
        messages.push(m);
        onMessage(
          m,
          (b) => stream.write(grpcFrame(b)),
          () => stream.end(),
        );
      }
    });
    stream.on('end', () => resolve({ messages, status }));
    stream.on('error', reject);
    for (const b of first) stream.write(grpcFrame(b));
    // A unary call: the request, then the half-close.
    if (first.length) stream.end();
  });
}

describe('BuildKit session (fsutil packets over our own gRPC server)', () => {
  it('encodes a STAT packet as fsutil reads it', () => {
    const stat = { path: 'a', mode: 0o644, uid: 0, gid: 0, size: 3, modTimeNs: 1_700_000_000_123_456_789n };
    const bytes = encodePacket({ type: PacketType.Stat, id: 0, stat });
    // type 0 and id 0 are left out (proto3); field 2 holds the Stat: path, mode, size, modTime.
    const f = readFields(bytes);
    assert.deepEqual([...f.keys()], [2]);
    const inner = readFields(f.get(2)![0] as Buffer);
    assert.equal((inner.get(1)![0] as Buffer).toString(), 'a');
    assert.equal(inner.get(2)![0], 0o644);
    assert.equal(inner.get(5)![0], 3);
    assert.equal(inner.get(6)![0], 1_700_000_000_123_456_789n);
    assert.deepEqual(decodePacket(bytes), { type: PacketType.Stat, id: 0, stat });
    assert.deepEqual(decodePacket(encodePacket({ type: PacketType.Data, id: 300, data: Buffer.from('xyz') })), {
      type: PacketType.Data,
      id: 300,
      data: Buffer.from('xyz'),
    });
    assert.deepEqual([...new ProtoWriter().varint(300).finish()], [0xac, 0x02]);
  });

  it('frames a run of STAT packets into one buffer byte for byte as one frame each, the closing empty STAT too', () => {
    const stats = [
      { path: 'a', mode: 0o644, uid: 0, gid: 0, size: 3, modTime: { ms: 1_700_000_000_123, ns: 456_789 } },
      { path: `deep/${'x'.repeat(300)}/\u00e9t\u00e9.py`, mode: 0o755, uid: 0, gid: 0, size: 70_000, modTime: { ms: 0, ns: 1 } },
      { path: 'link', mode: 0o777 | 0x8000000, uid: 0, gid: 0, size: 0, modTime: { ms: 1, ns: 0 }, linkname: '../t' },
    ];
    const out = new ProtoWriter(16);
    for (const stat of stats) appendStatFrame(out, stat);
    appendStatFrame(out);
    const one = Buffer.concat([
      ...stats.map((stat) => grpcFrame(encodePacket({ type: PacketType.Stat, id: 0, stat }))),
      grpcFrame(encodePacket({ type: PacketType.Stat, id: 0 })),
    ]);
    assert.deepEqual(out.finish(), one);
    assert.deepEqual(
      new GrpcDeframer().push(out.finish()).map((m) => decodePacket(m).stat?.path),
      [...stats.map((stat) => stat.path), undefined],
    );
  });

  it("puts Go's os.FileMode bits in Stat.mode, and only regular files can be asked for", () => {
    assert.equal(goFileMode('file', 0o644), 0o644);
    assert.equal(goFileMode('directory', 0o755), 2 ** 31 + 0o755);
    assert.equal(goFileMode('symlink', 0o777), 2 ** 27 + 0o777);
    assert.equal(goFileMode('file', 0o4755), 2 ** 23 + 0o755);
    assert.equal(canRequestData(goFileMode('file', 0o4755)), true);
    assert.equal(canRequestData(goFileMode('directory', 0o755)), false);
    assert.equal(canRequestData(goFileMode('symlink', 0o777)), false);
  });

  it('lists the context in walk order, owned by root, and sends only the files asked for, then FIN', async () => {
    const root = writeFixture({
      name: 'x',
      files: {
        Dockerfile: 'FROM x\n',
        '.dockerignore': 'data\n',
        'a.txt': 'A',
        'a/b.txt': 'B'.repeat(70_000),
        'data/big': 'x',
        'z.py': 'Z',
      },
      expected: [],
    });
    const scan = await scanContext(root, 'Dockerfile');
    const session = new BuildSession({ contextDir: root, sources: { context: { root, entries: scan.entries } } });
    const { client, close } = await connect(session);
    try {
      const stats: { path: string; id: number }[] = [];
      const data = new Map<number, Buffer[]>();
      let n = 0;
      const result = await call(client, '/moby.filesync.v1.FileSync/DiffCopy', { 'dir-name': 'context' }, (m, send, end) => {
        const p = decodePacket(m);
        if (p.type === PacketType.Stat && p.stat) {
          const id = n++;
          stats.push({ path: p.stat.path, id });
          assert.equal(p.stat.uid, 0);
          if (p.stat.path === 'a/b.txt') send(encodePacket({ type: PacketType.Req, id }));
        } else if (p.type === PacketType.Stat) {
          // The listing ended; ask for nothing else once the requested file is in.
          if (!stats.some((s) => s.path === 'a/b.txt')) send(encodePacket({ type: PacketType.Fin, id: 0 }));
        } else if (p.type === PacketType.Data) {
          if (p.data) data.set(p.id, [...(data.get(p.id) ?? []), p.data]);
          else {
            send(encodePacket({ type: PacketType.Fin, id: 0 }));
            end();
          }
        }
      });
      assert.deepEqual(
        stats.map((s) => s.path),
        ['.dockerignore', 'Dockerfile', 'a', 'a/b.txt', 'a.txt', 'z.py'],
      );
      const id = stats.find((s) => s.path === 'a/b.txt')!.id;
      assert.deepEqual([...data.keys()], [id]);
      assert.equal(Buffer.concat(data.get(id)!).toString(), 'B'.repeat(70_000));
      assert.equal(decodePacket(result.messages.at(-1)!).type, PacketType.Fin);
      assert.equal(result.status, '0');
      assert.ok(session.counters.bytes > 70_000 && session.counters.files === 1);
    } finally {
      close();
    }
  });

  it("serves bytes from the source's open() where it has one, and a file it cannot give ends the call with an error, not a wait", async () => {
    const entries = [
      { path: 'Dockerfile', type: 'file' as const, size: 7, mode: 0o644, mtimeMs: 0 },
      { path: 'bad', type: 'file' as const, size: 3, mode: 0o644, mtimeMs: 0 },
      { path: 'good', type: 'file' as const, size: 5, mode: 0o644, mtimeMs: 0 },
    ];
    const opened: string[] = [];
    const newSession = (): BuildSession =>
      new BuildSession({
        contextDir: '/nonexistent/model',
        sources: {
          context: {
            root: '/nonexistent/model',
            entries,
            open: async function* (p: string) {
              opened.push(p);
              if (p === 'bad') throw new Error('bad changed while the model was being saved');
              yield Buffer.from('he');
              yield Buffer.from('llo');
            },
          },
        },
      });
    const ask = async (name: string): Promise<{ data: string; messages: Buffer[]; status: string | undefined }> => {
      const { client, close } = await connect(newSession());
      try {
        const chunks: Buffer[] = [];
        let n = 0;
        const ids = new Map<string, number>();
        const result = await call(client, '/moby.filesync.v1.FileSync/DiffCopy', { 'dir-name': 'context' }, (m, send, end) => {
          const p = decodePacket(m);
          if (p.type === PacketType.Stat && p.stat) ids.set(p.stat.path, n++);
          else if (p.type === PacketType.Stat) send(encodePacket({ type: PacketType.Req, id: ids.get(name)! }));
          else if (p.type === PacketType.Data && p.data) chunks.push(p.data);
          else if (p.type === PacketType.Data) {
            send(encodePacket({ type: PacketType.Fin, id: 0 }));
            end();
          } else if (p.type === PacketType.Err) end();
        });
        return { data: Buffer.concat(chunks).toString(), messages: result.messages, status: result.status };
      } finally {
        close();
      }
    };
    const good = await ask('good');
    assert.equal(good.data, 'hello');
    assert.equal(good.status, '0');
    const bad = await ask('bad');
    const last = decodePacket(bad.messages.at(-1)!);
    assert.equal(last.type, PacketType.Err);
    assert.match(last.data!.toString(), /bad changed while the model was being saved/);
    assert.notEqual(bad.status, '0');
    assert.deepEqual(opened, ['good', 'bad'], 'nothing is read from the (absent) root');
  });

  it("honours the frontend's include and exclude patterns, parents before children", async () => {
    const root = writeFixture({
      name: 'x',
      files: {
        Dockerfile: 'FROM x\n',
        '.dockerignore': 'data/\n!data/keep.txt\n',
        'data/keep.txt': 'k',
        'data/big.bin': 'b',
        'src/m.py': 'm',
        'src/t.pyc': 'p',
      },
      expected: [],
    });
    const scan = await scanContext(root, 'Dockerfile');
    const paths = async (f: Parameters<typeof filterEntries>[1]): Promise<string[]> => (await filterEntries(scan, f)).map((e) => e.path);
    assert.deepEqual(await paths({ excludes: ['data/', '!data/keep.txt', '**/*.pyc'] }), [
      '.dockerignore',
      'Dockerfile',
      'data',
      'data/keep.txt',
      'src',
      'src/m.py',
    ]);
    assert.deepEqual(await paths({ followPaths: ['.dockerignore'] }), ['.dockerignore']);
    assert.deepEqual(await paths({ includes: ['src/m.py'] }), ['src', 'src/m.py']);
    // The .dockerignore lines back, as the frontend cleans them: only what the scan sent regardless is dropped.
    const all = await scanContext(
      writeFixture({
        name: 'x',
        files: { Dockerfile: 'FROM x\n', '.dockerignore': '# c\n/build/\n*\n!src\n', 'src/a.py': 'a', 'build/x': 'x' },
        expected: [],
      }),
      'Dockerfile',
    );
    assert.deepEqual(
      (await filterEntries(all, { excludes: ['build', '*', '!src'] })).map((e) => e.path),
      ['src', 'src/a.py'],
    );
    // What is not in the scan (ignored by .dockerignore) is never offered, whatever the frontend asks.
    assert.deepEqual(await paths({ includes: ['data/big.bin'] }), []);
  });

  it('answers each registry with its own credentials, and the health check', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-sess-'));
    const session = new BuildSession({
      contextDir: root,
      sources: {},
      credentials: new Map([
        ['one.example:5000', { username: 'u1', password: 'p1' }],
        ['two.example', { identitytoken: 'tok' }],
      ]),
    });
    assert.ok((session.headers()['X-Docker-Expose-Session-Grpc-Method'] as string[]).includes('/moby.filesync.v1.Auth/Credentials'));
    const { client, close } = await connect(session);
    try {
      const ask = async (host: string): Promise<string[]> => {
        const r = await call(client, '/moby.filesync.v1.Auth/Credentials', {}, () => undefined, [
          new ProtoWriter().bytesField(1, host).finish(),
        ]);
        const f = readFields(r.messages[0] ?? Buffer.alloc(0));
        return [1, 2].map((k) => ((f.get(k)?.[0] as Buffer | undefined) ?? Buffer.alloc(0)).toString());
      };
      assert.deepEqual(await ask('one.example:5000'), ['u1', 'p1']);
      assert.deepEqual(await ask('two.example'), ['', 'tok']);
      assert.deepEqual(await ask('three.example'), ['', '']);
      const health = await call(client, '/grpc.health.v1.Health/Check', {}, () => undefined, [Buffer.alloc(0)]);
      assert.deepEqual([...health.messages[0]!], [0x08, 0x01]);
      const unknown = await call(client, '/moby.sshforward.v1.SSH/CheckAgent', {}, () => undefined, [Buffer.alloc(0)]);
      assert.equal(unknown.status, '12');
    } finally {
      close();
    }
  });

  it('gives a stat the mtime in nanoseconds and no size for folders', () => {
    const s = wireStat({ path: 'd', type: 'directory', size: 4096, mode: 0o755, mtimeMs: 1500.25 });
    assert.equal(s.size, 0);
    assert.deepEqual(s.modTime, { ms: 1500, ns: 250_000 });
    const stat = { path: 'f', mode: 0o644, uid: 0, gid: 0, size: 1, modTime: { ms: 1_764_000_000_123, ns: 456_789 } };
    assert.equal(decodePacket(encodePacket({ type: PacketType.Stat, id: 0, stat })).stat?.modTimeNs, 1_764_000_000_123_456_789n);
  });
});
