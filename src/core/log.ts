import { maskSecrets } from './secrets';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** Where log lines go: VS Code's LogOutputChannel in the extension, stderr in the CLI. */
export interface LogSink {
  write(level: LogLevel, line: string): void;
}

/** A logger whose lines name the component that wrote them, e.g. `[engine] connected`; tokens are masked. */
export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string | Error): void;
  child(component: string): Logger;
}

export function createLogger(sink: LogSink, component: string): Logger {
  const emit = (level: LogLevel, message: string): void => sink.write(level, maskSecrets(`[${component}] ${message}`));
  return {
    trace: (m) => emit('trace', m),
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m instanceof Error ? m.message : m),
    child: (sub) => createLogger(sink, `${component}/${sub}`),
  };
}
