// devcontainer.json updateRemoteUserUID on Linux: what a run or Jupyter writes into /workspace belongs to the
// workspace's owner. Dev Containers rebuilds the image with the user's uid changed (usermod); we run the container
// as the owner's uid:gid instead, with HOME in /tmp, so no second image is built per host user and the image stays
// the one the sidebar shows and the record names. The image user's uid is asked of the image once per process.
import * as fs from 'node:fs/promises';
import type { Engine, ImageDetails } from '../docker/engine';
import { isLocalEndpoint } from '../docker/endpoint';
import type { RuntimeSettings } from './runtime';

/** The container's user when it differs from the image's: `uid:gid`, and a HOME that user can write. */
export interface HostUser {
  user: string;
  home: string;
}

/** HOME for a uid the image has no account for: /tmp is writable by every user. */
export function homeFor(uid: number): string {
  return `/tmp/mlc-home-${uid}`;
}

const imageUsers = new Map<string, Promise<{ uid: number; gid: number } | undefined>>();

/** The uid and gid `user` (the image's USER when empty) has in the image, by running `id` there once. */
async function imageIds(
  engine: Engine,
  image: ImageDetails,
  user: string | undefined,
  signal?: AbortSignal,
): Promise<{ uid: number; gid: number } | undefined> {
  const who = user ?? image.user ?? '';
  const numeric = /^(\d+)(?::(\d+))?$/.exec(who);
  if (numeric && numeric[2] !== undefined) return { uid: Number(numeric[1]), gid: Number(numeric[2]) };
  if (who === 'root') return { uid: 0, gid: 0 };
  const key = `${image.id}\0${who}`;
  let ids = imageUsers.get(key);
  if (!ids) {
    // `id NAME` reads the image's account database ("uid=1000(u) gid=1000(u) …", GNU and busybox alike); the
    // throw-away container itself runs as the image's USER.
    ids = engine.runCapture(image.id, ['id', ...(who ? [who] : [])], signal).then(
      (r) => {
        const m = /uid=(\d+)(?:\([^)]*\))? gid=(\d+)/.exec(r.stdout);
        return r.exitCode === 0 && m
          ? { uid: Number(m[1]), gid: Number(m[2]) }
          : numeric
            ? { uid: Number(numeric[1]), gid: Number(numeric[1]) }
            : undefined;
      },
      () => (numeric ? { uid: Number(numeric[1]), gid: Number(numeric[1]) } : undefined),
    );
    imageUsers.set(key, ids);
  }
  return ids;
}

/**
 * The user to run as so files written into the workspace belong to its owner: none when updateRemoteUserUID is
 * false, off Linux, on a remote or rootless engine (which maps users itself), when the workspace is root's (root
 * reads and writes everything anyway, and Dev Containers skips root too), or when the image user has that uid.
 */
export async function hostUser(
  engine: Engine,
  image: ImageDetails,
  runtime: RuntimeSettings,
  workspace: string,
  signal?: AbortSignal,
  platform: NodeJS.Platform = process.platform,
): Promise<HostUser | undefined> {
  if (!runtime.updateRemoteUserUID || platform !== 'linux' || !isLocalEndpoint(engine.endpoint)) return undefined;
  const owner = await fs.stat(workspace).catch(() => undefined);
  if (!owner || owner.uid === 0) return undefined;
  if ((await engine.info(signal)).rootless) return undefined;
  if ((await imageIds(engine, image, runtime.user, signal))?.uid === owner.uid) return undefined;
  return { user: `${owner.uid}:${owner.gid}`, home: homeFor(owner.uid) };
}

/**
 * Who a run's folder ($MLC_RUN_DIR) must belong to for the run's user to write it at mode 0755: the uid:gid the
 * container runs as, when this process is root and that user is not (a root host running an image user); undefined
 * when the folder is already the run's (the run runs as this process's user, mapped or not, or as root). "world"
 * where the run's uid cannot be known or given on this machine (a rootless or remote engine with an image user that
 * is not root): only a world-writable folder lets that user write.
 */
export async function runFolderOwner(
  engine: Engine,
  image: ImageDetails,
  runtime: RuntimeSettings,
  mapped: HostUser | undefined,
  signal?: AbortSignal,
): Promise<{ uid: number; gid: number } | 'world' | undefined> {
  const me = process.getuid?.();
  if (me === undefined) return undefined;
  const ids = mapped ? parseIds(mapped.user) : await imageIds(engine, image, runtime.user, signal);
  if (ids?.uid === 0 || ids?.uid === me) return undefined;
  if (!isLocalEndpoint(engine.endpoint) || (await engine.info(signal)).rootless)
    return ids?.uid === undefined || ids.uid !== 0 ? 'world' : undefined;
  if (!ids) return 'world';
  return me === 0 ? ids : 'world';
}

function parseIds(user: string): { uid: number; gid: number } | undefined {
  const m = /^(\d+):(\d+)$/.exec(user);
  return m ? { uid: Number(m[1]), gid: Number(m[2]) } : undefined;
}
