import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { loadRegistryAuth } from '../core/docker/registryAuth';
import type { RegistryTarget } from '../core/push/push';
import { PushError, parseRegistryTarget, pushExperimentImage } from '../core/push/push';
import { pushRecordFile, recordPushes } from '../core/push/pushRecord';
import type { CliIO } from './io';
import { UsageError } from './io';

export const pushHelp = `mlc push IMAGE --registry HOST[:PORT][/NAMESPACE] [--latest] [--allow-dirty] [--json] [--host URL]

Pushes an experiment image under its commit tag: IMAGE (e.g. myproj:latest) is tagged
HOST/NAMESPACE/myproj:<sha7> from its org.opencontainers.image.revision label and that tag is pushed. A model
image (mlc model save) is pushed under its run id instead, HOST/NAMESPACE/digits-model:<run id>, as it was saved.
Credentials come from your docker config ($DOCKER_CONFIG/config.json, default ~/.docker/config.json):
its credHelpers / credsStore credential helpers, else its auths; none means an anonymous push.
Prints the pushed reference, pinned by digest: HOST/NAMESPACE/myproj:<sha7>@sha256:…

  --registry R   where to push: ghcr.io/alice, registry.example.org:5000/team, docker.io/alice (Docker Hub)
  --latest       also push the :latest tag (not by default: it moves under whoever pulls it)
  --allow-dirty  push an image built from uncommitted changes (as <sha7>-dirty); refused otherwise
  --json         print {"pushed": [{"reference", "digest", "imageId"}]}, one entry per tag pushed (no credentials)
  --host URL     Docker host instead of DOCKER_HOST / the docker context`;

export async function push(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      registry: { type: 'string' },
      latest: { type: 'boolean', default: false },
      'allow-dirty': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [imageRef, ...rest] = positionals;
  if (!imageRef || rest.length || !values.registry) {
    throw new UsageError('usage: mlc push IMAGE --registry HOST[:PORT][/NAMESPACE] [--latest] [--allow-dirty]');
  }
  let registry: RegistryTarget;
  try {
    registry = parseRegistryTarget(values.registry);
  } catch (e) {
    throw e instanceof PushError ? new UsageError(e.message) : e;
  }
  const engine = machineEngine(values.host, {}, io.env);
  const layers = new Map<string, string>();
  const record = async (pushed: readonly { reference: string; imageId: string }[]): Promise<void> => {
    const [first] = pushed;
    if (first)
      await recordPushes(
        pushRecordFile(io.env, io.env.HOME || os.homedir()),
        first.imageId,
        pushed.map((p) => p.reference),
      ).catch((e: unknown) =>
        io.err(
          `warning: the push was not recorded (${e instanceof Error ? e.message : String(e)}); mlc export k8s on Podman will not find its digest.`,
        ),
      );
  };
  const pushed = await pushExperimentImage({
    engine,
    ref: imageRef,
    registry,
    latest: values.latest,
    allowDirty: values['allow-dirty'],
    credentials: (host) => loadRegistryAuth(host, io.env, io.env.HOME || os.homedir(), signal),
    onNote: (line) => io.err(line),
    onProgress: (event) => {
      // One line per layer when it settles (Pushed, Layer already exists, Mounted from …), not per progress tick.
      const id = typeof event.id === 'string' ? event.id : '';
      const status = typeof event.status === 'string' ? event.status : '';
      // dockerd counts each retry down a second at a time: one line per layer that had to retry.
      const settled = /^Retrying in \d+ seconds?$/.test(status) ? 'Retrying (the registry did not answer)' : status;
      if (!id || !settled || /^(Preparing|Waiting|Pushing)$/.test(settled) || layers.get(id) === settled) return;
      layers.set(id, settled);
      io.err(`  ${id}: ${settled}`);
    },
    signal,
  }).catch(async (e: unknown) => {
    // What the registry took before it went away (with --latest, the commit tag) is pushed all the same.
    if (e instanceof PushError) await record(e.pushed);
    throw e;
  });
  // What the registry answered, for `mlc export k8s` on Podman, whose RepoDigests cannot tell a push from a build.
  await record(pushed);
  if (values.json)
    io.out(JSON.stringify({ pushed: pushed.map((p) => ({ reference: p.reference, digest: p.digest, imageId: p.imageId })) }));
  else for (const p of pushed) io.out(p.reference);
  return 0;
}
