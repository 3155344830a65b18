// A fake of our own Engine interface (src/core/docker/engine.ts) for unit tests of the VS Code shell: containers live
// in a map, every call is recorded. The Docker tier tests the real engine.
import type {
  ContainerCreateRequest,
  ContainerDetails,
  ContainerSummary,
  Engine,
  EngineEvent,
  EngineInfo,
  EnginePing,
  EngineVersion,
  ImageDetails,
  ImageSummary,
  PushEvent,
  RegistryAuth,
} from '../../../src/core/docker/engine';
import { splitTaggedReference } from '../../../src/core/docker/dockerode/push';
import { EngineError } from '../../../src/core/docker/errors';

export interface FakeContainer extends ContainerDetails {
  created: number;
}

export class FakeEngine implements Engine {
  readonly endpoint = {
    host: 'unix:///fake.sock',
    protocol: 'unix',
    socketPath: '/fake.sock',
    source: 'default',
  } as unknown as Engine['endpoint'];
  readonly calls: string[] = [];
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Map<string, ImageDetails>();
  /** Every create request by container id, for tests to read. */
  readonly requests = new Map<string, ContainerCreateRequest>();
  private created = 0;
  /** What listImages returns. */
  imageList: ImageSummary[] = [];
  private readonly streams: { onEvent: (e: EngineEvent) => void; reject: (e: Error) => void }[] = [];
  /** Port the next started container publishes on 127.0.0.1. */
  nextPort = 0;
  /** Every pushImage call, with the auth it was given (tests assert on it; never printed). */
  readonly pushes: { ref: string; auth: RegistryAuth | undefined }[] = [];
  /** Thrown by every pushImage while set, as the engine rejects a push the registry refused. */
  pushError: Error | undefined;
  /** Thrown by the next startContainer, once. */
  startError: Error | undefined;
  info_: EngineInfo = {
    name: 'fake',
    serverVersion: '27.3.1',
    storageDriver: 'overlay2',
    operatingSystem: 'Fake',
    osType: 'linux',
    architecture: 'x86_64',
    cpus: 2,
    memTotal: 2 ** 33,
    runtimes: ['runc'],
    cdiSpecDirs: [],
    discoveredDevices: [],
    rootless: false,
  };

  private quiet = false;

  private record(name: string): void {
    if (!this.quiet) this.calls.push(name);
  }

  /** What the real /_ping's headers carry, of the engine version() and info_ describe (subclasses override version()). */
  async ping(): Promise<EnginePing> {
    this.record('ping');
    // A fake's version() records synchronously, before its first await: only this call is kept quiet.
    this.quiet = true;
    const asked = this.version();
    this.quiet = false;
    const v = await asked;
    return { apiVersion: v.apiVersion, osType: this.info_.osType, isPodman: v.isPodman, version: v.version };
  }
  async version(): Promise<EngineVersion> {
    this.record('version');
    return { version: '27.3.1', apiVersion: '1.47', os: 'linux', arch: 'amd64', components: ['Engine'], isPodman: false };
  }
  async info(): Promise<EngineInfo> {
    this.record('info');
    return this.info_;
  }
  async listImages(): Promise<ImageSummary[]> {
    this.record('listImages');
    return this.imageList;
  }
  async inspectImage(ref: string): Promise<ImageDetails | undefined> {
    this.record(`inspectImage ${ref}`);
    // As the engine does, by reference or by id.
    return this.images.get(ref) ?? [...this.images.values()].find((i) => i.id === ref);
  }
  async removeImage(..._args: Parameters<Engine['removeImage']>): Promise<void> {
    this.record('removeImage');
  }
  async runCapture(..._args: Parameters<Engine['runCapture']>): ReturnType<Engine['runCapture']> {
    throw new Error('not faked');
  }
  /** Reads the whole context, as the engine does (no file stays open), and answers with a fixed id. */
  async build(...[context]: Parameters<Engine['build']>): Promise<string> {
    this.record('build');
    await new Promise<void>((resolve, reject) => (context as NodeJS.ReadableStream).on('end', resolve).on('error', reject).resume());
    return 'sha256:fakebuild';
  }

  /** No BuildKit session here (as on Podman): builds fall back to the tar upload. */
  async openSession(): ReturnType<Engine['openSession']> {
    this.record('openSession');
    throw new EngineError('Docker engine at unix:///fake.sock answered: HTTP 404', 'notFound', 404);
  }

  async createContainer(request: ContainerCreateRequest): Promise<string> {
    this.record('createContainer');
    const id = `c${++this.created}`;
    this.containers.set(id, {
      id,
      name: request.name ?? id,
      imageId: request.Image,
      labels: request.Labels ?? {},
      env: request.Env ?? [],
      running: false,
      status: 'created',
      exitCode: 0,
      startedAt: '',
      ports: {},
      deviceRequests: request.HostConfig?.DeviceRequests?.length ?? 0,
      created: Date.now(),
    });
    this.requests.set(id, request);
    if (request.Cmd) this.commands.set(id, request.Cmd);
    return id;
  }
  async startContainer(id: string): Promise<void> {
    this.record('startContainer');
    if (this.startError) {
      const e = this.startError;
      this.startError = undefined;
      throw e;
    }
    const c = this.must(id);
    Object.assign(c, {
      running: true,
      status: 'running',
      ports: { '8888/tcp': [{ hostIp: '127.0.0.1', hostPort: String(this.nextPort) }] },
    });
  }
  async restartContainer(id: string): Promise<void> {
    this.record('restartContainer');
    this.must(id).running = true;
  }
  async stopContainer(id: string): Promise<void> {
    this.record('stopContainer');
    Object.assign(this.must(id), { running: false, status: 'exited', ports: {} });
  }
  async removeContainer(id: string): Promise<void> {
    this.record('removeContainer');
    this.containers.delete(id);
  }
  async inspectContainer(id: string): Promise<ContainerDetails | undefined> {
    this.record('inspectContainer');
    return this.containers.get(id);
  }
  async listContainers(filter: { labels?: string[]; all?: boolean }): Promise<ContainerSummary[]> {
    this.record('listContainers');
    return [...this.containers.values()]
      .filter(
        (c) =>
          (filter.all || c.running) &&
          (filter.labels ?? []).every((l) => {
            const [k, v] = l.split('=');
            return v === undefined ? k! in c.labels : c.labels[k!] === v;
          }),
      )
      .map((c) => ({
        id: c.id,
        names: [c.name],
        image: c.imageId,
        imageId: c.imageId,
        labels: c.labels,
        state: c.status,
        status: c.status,
        created: c.created,
        ports: Object.entries(c.ports).flatMap(([p, bs]) =>
          bs.map((b) => ({ privatePort: Number.parseInt(p, 10), publicPort: Number(b.hostPort), ip: b.hostIp, type: 'tcp' })),
        ),
      }));
  }
  async containerLogs(id: string): Promise<string> {
    this.record('containerLogs');
    // What the container printed, as the engine keeps it.
    const command = this.commands.get(id);
    return command ? this.runScript(command).output : `log of ${id}\n`;
  }
  /** What each run container prints and its exit code, by the first word of its command; set by tests. */
  runScript: (command: string[]) => { output: string; exitCode: number } = () => ({ output: '', exitCode: 0 });
  private readonly commands = new Map<string, string[]>();
  async followLogs(id: string, onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void): Promise<void> {
    this.record('followLogs');
    const { output } = this.runScript(this.commands.get(id) ?? []);
    if (output) onOutput(Buffer.from(output), 'stdout');
  }
  async waitContainer(id: string): Promise<number> {
    this.record('waitContainer');
    const c = this.must(id);
    Object.assign(c, { running: false, status: 'exited', exitCode: this.runScript(this.commands.get(id) ?? []).exitCode });
    return c.exitCode;
  }

  /** What `docker exec` answers in any container, by command; by default the command is not in the image. */
  execScript: (command: string[]) => { exitCode: number; stdout: string; stderr: string } = (command) => ({
    exitCode: 127,
    stdout: '',
    stderr: `exec: "${command[0] ?? ''}": executable file not found in $PATH`,
  });
  async execCapture(id: string, command: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    this.record(`execCapture ${command[0] ?? ''}`);
    this.must(id);
    return this.execScript(command);
  }

  async tagImage(ref: string, repo: string, tag: string): Promise<void> {
    this.record(`tagImage ${ref} ${repo}:${tag}`);
  }

  async pushImage(ref: string, auth: RegistryAuth | undefined, onProgress?: (event: PushEvent) => void): Promise<string> {
    this.record(`pushImage ${ref}`);
    splitTaggedReference(ref);
    this.pushes.push({ ref, auth });
    if (this.pushError) throw this.pushError;
    onProgress?.({ status: 'Pushed', progressDetail: {}, id: 'abc123def456' });
    // One digest per image, as a registry gives every tag of the same manifest the same digest.
    const image = ref.replace(/^.*\//, '').replace(/:[^:]*$/, '');
    return `sha256:${Buffer.from(image.padEnd(32, '0').slice(0, 32)).toString('hex')}`;
  }

  async events(filter: { since?: number; types?: string[] }, onEvent: (event: EngineEvent) => void, signal?: AbortSignal): Promise<void> {
    this.record(`events${filter.since !== undefined ? ` since=${filter.since}` : ''}`);
    return new Promise((resolve, reject) => {
      const stream = { onEvent, reject };
      this.streams.push(stream);
      signal?.addEventListener(
        'abort',
        () => {
          this.streams.splice(this.streams.indexOf(stream), 1);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Sends an event to every open /events stream. */
  emit(event: EngineEvent): void {
    for (const s of this.streams) s.onEvent(event);
  }

  /** Drops every open /events stream, as a restarting engine does. */
  dropStreams(): void {
    for (const s of this.streams.splice(0)) s.reject(new EngineError('The event stream ended.', 'unreachable'));
  }

  get openStreams(): number {
    return this.streams.length;
  }

  private must(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no container ${id}`);
    return c;
  }
}
