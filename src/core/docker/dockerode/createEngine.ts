// The dockerode adapter behind the Engine interface: one function per call, grouped by area in this folder.
import type { DockerEndpoint } from '../endpoint';
import type { Engine } from '../engine';
import { build, openSession } from './build';
import type { EngineOptions } from './client';
import { DockerConnection } from './client';
import {
  createContainer,
  execCapture,
  inspectContainer,
  listContainers,
  removeContainer,
  restartContainer,
  runCapture,
  startContainer,
  stopContainer,
  waitContainer,
} from './containers';
import { events } from './events';
import { inspectImage, listImages, removeImage, tagImage } from './images';
import { containerLogs, followLogs } from './logs';
import { pushImage } from './push';
import { info, ping, version } from './system';

/** An Engine on `endpoint`; dockerode itself loads on the first call, not here (activation time). */
export function createEngine(endpoint: DockerEndpoint, options: EngineOptions = {}): Engine {
  const conn = new DockerConnection(endpoint, options);
  return {
    endpoint,
    ping: (signal) => ping(conn, signal),
    version: (signal) => version(conn, signal),
    info: (signal) => info(conn, signal),
    listImages: (filter, signal) => listImages(conn, filter, signal),
    inspectImage: (ref, signal) => inspectImage(conn, ref, signal),
    removeImage: (ref, removeOptions, signal) => removeImage(conn, ref, removeOptions, signal),
    tagImage: (ref, repo, tag, signal) => tagImage(conn, ref, repo, tag, signal),
    runCapture: (image, command, signal) => runCapture(conn, image, command, signal),
    build: (context, request, onEvent, signal) => build(conn, context, request, onEvent, signal),
    openSession: (headers, signal) => openSession(conn, headers, signal),
    pushImage: (ref, auth, onProgress, signal) => pushImage(conn, ref, auth, onProgress, signal),
    createContainer: (request, signal) => createContainer(conn, request, signal),
    startContainer: (id, signal) => startContainer(conn, id, signal),
    restartContainer: (id, signal) => restartContainer(conn, id, signal),
    stopContainer: (id, timeoutSeconds, signal) => stopContainer(conn, id, timeoutSeconds, signal),
    removeContainer: (id, removeOptions, signal) => removeContainer(conn, id, removeOptions, signal),
    inspectContainer: (id, signal) => inspectContainer(conn, id, signal),
    listContainers: (filter, signal) => listContainers(conn, filter, signal),
    containerLogs: (id, tail, signal) => containerLogs(conn, id, tail, signal),
    followLogs: (id, onOutput, signal) => followLogs(conn, id, onOutput, signal),
    waitContainer: (id, signal) => waitContainer(conn, id, signal),
    execCapture: (id, command, signal) => execCapture(conn, id, command, signal),
    events: (filter, onEvent, signal) => events(conn, filter, onEvent, signal),
  };
}
