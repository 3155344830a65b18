import * as vscode from 'vscode';
import type { LogSink } from '../core/log';

/** The single "ML Containers" LogOutputChannel, as a sink for core loggers. */
export function createLogChannel(): { channel: vscode.LogOutputChannel; sink: LogSink } {
  const channel = vscode.window.createOutputChannel('ML Containers', { log: true });
  const sink: LogSink = {
    write: (level, line) => {
      switch (level) {
        case 'trace':
          channel.trace(line);
          break;
        case 'debug':
          channel.debug(line);
          break;
        case 'info':
          channel.info(line);
          break;
        case 'warn':
          channel.warn(line);
          break;
        case 'error':
          channel.error(line);
          break;
      }
    },
  };
  return { channel, sink };
}
