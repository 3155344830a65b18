// Files a container wrote, opened by the host: never through a link, never a FIFO or device, never a hard link to
// a file elsewhere, and only where they really are under the folder they were looked for in. The one opener for a
// run folder's files (core/run/runFolder.ts) and the metric readers (core/metrics/).
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from './errors';
import { printable } from './generatedText';

const O_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** A file in a run folder that the host will not read or write: a link, a FIFO, a hard link, too big, or elsewhere. */
export class RunFileRefused extends UserError {}

/**
 * Opens `file`, somewhere under the run folder `root`, to read: not through a link, not a FIFO or device, not a hard
 * link, and really under `root` (RunFileRefused otherwise; ENOENT as the error it is). Metric readers open here.
 */
export async function openRunFileForRead(file: string, root: string): Promise<fs.FileHandle> {
  const rel = path.relative(root, file) || path.basename(file);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, O_READ);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new RunFileRefused(`${rel} in the run folder is a link: the host reads no link a run wrote.`);
    if (code === 'ENXIO' || code === 'EISDIR')
      throw new RunFileRefused(`${rel} in the run folder is not a file: the host reads only plain files a run wrote.`);
    throw e;
  }
  try {
    await assertPlainFile(handle, await handle.stat(), root, rel);
    return handle;
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/**
 * A plain file with one link, which really is in the run folder: the fd's own path (/proc/self/fd) catches a link
 * on the way (the run folder itself, a folder under it, or one swapped in while the open ran), which O_NOFOLLOW
 * (last name only) cannot.
 */
export async function assertPlainFile(handle: fs.FileHandle, st: Stats, dir: string, rel: string): Promise<void> {
  if (!st.isFile()) throw new RunFileRefused(`${rel} in the run folder is ${kind(st)}: the host reads only plain files a run wrote.`);
  if (st.nlink > 1)
    throw new RunFileRefused(`${rel} in the run folder is a hard link to another file: the host reads no file a run linked in.`);
  if (process.platform !== 'linux') return;
  const where = await fs.readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
  if (where === undefined) return;
  // The folder's parent resolved, then the folder's own name: a run folder that is itself a link fails here too.
  const real = path.join(await fs.realpath(path.dirname(dir)).catch(() => path.dirname(dir)), path.basename(dir));
  if (!where.startsWith(real + path.sep))
    throw new RunFileRefused(
      `${rel} in the run folder leads out of it (to ${printable(where)}): the host reads nothing outside a run's folder.`,
    );
}

export function kind(st: Stats): string {
  return st.isSymbolicLink()
    ? 'a link'
    : st.isFIFO()
      ? 'a FIFO'
      : st.isSocket()
        ? 'a socket'
        : st.isDirectory()
          ? 'a folder'
          : st.isFile()
            ? 'a file'
            : 'a device';
}
