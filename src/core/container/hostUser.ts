// devcontainer.json updateRemoteUserUID on Linux: what a run or Jupyter writes into /workspace belongs to the
// workspace's owner. Dev Containers rebuilds the image with the user's uid changed (usermod); we run the container
// as the owner's uid:gid instead, with HOME in /tmp, so no second image is built per host user and the image stays
// the one the sidebar shows and the record names. The image user's uid is asked of the image once per process.
import * as fs from 'node:fs/promises';
import type { Engine, ImageDetails } from '../docker/engine';
import { isLocalEndpoint } from '../gpu/preflight';
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

const imageUids = new Map<string, Promise<number | undefined>>();

/** The uid `user` (the image's USER when empty) has in the image, by running `id -u` there once. */
async function imageUid(engine: Engine, image: ImageDetails, user: string | undefined, signal?: AbortSignal): Promise<number | undefined> {
  const who = user ?? image.user ?? '';
  const numeric = /^(\d+)(?::\d+)?$/.exec(who);
  if (numeric) return Number(numeric[1]);
  if (who === 'root') return 0;
  const key = `${image.id}\0${who}`;
  let uid = imageUids.get(key);
  if (!uid) {
    // `id -u NAME` reads the image's account database; the throw-away container itself runs as the image's USER.
    uid = engine.runCapture(image.id, ['id', '-u', ...(who ? [who] : [])], signal).then(
      (r) => (r.exitCode === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : undefined),
      () => undefined,
    );
    imageUids.set(key, uid);
  }
  return uid;
}

/**
 * The user to run as so files written into the workspace belong to its owner: none when updateRemoteUserUID is
 * false, off Linux, on a remote or rootless engine (which maps users itself), when the workspace is root's (root
 * reads and writes everything anyway, and Dev Containers skips root too), or when the image user has that uid.
 */
export async function hostUser(engine: Engine, image: ImageDetails, runtime: RuntimeSettings, workspace: string, signal?: AbortSignal, platform: NodeJS.Platform = process.platform): Promise<HostUser | undefined> {
  if (!runtime.updateRemoteUserUID || platform !== 'linux' || !isLocalEndpoint(engine.endpoint)) return undefined;
  const owner = await fs.stat(workspace).catch(() => undefined);
  if (!owner || owner.uid === 0) return undefined;
  if ((await engine.info(signal)).rootless) return undefined;
  if ((await imageUid(engine, image, runtime.user, signal)) === owner.uid) return undefined;
  return { user: `${owner.uid}:${owner.gid}`, home: homeFor(owner.uid) };
}
