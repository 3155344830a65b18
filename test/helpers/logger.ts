import type { Logger } from '../../src/core/log';
import { createLogger } from '../../src/core/log';

/** A logger that appends each line to `lines` as `level [component] message`. */
export function recordingLogger(lines: string[], component: string): Logger {
  return createLogger({ write: (level, line) => lines.push(`${level} ${line}`) }, component);
}

export function silentLogger(component: string): Logger {
  return createLogger({ write: () => undefined }, component);
}
