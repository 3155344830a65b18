import * as vscode from 'vscode';
import type { GpuSetting } from '../core/run/gpuOptions';
import { parseGpuSetting, parseSize } from '../core/run/gpuOptions';

export interface RunSettings {
  gpu: GpuSetting;
  shmSizeBytes: number;
  readyTimeoutMs: number;
}

/** The run settings, validated; a bad value is an error that names the setting and what it accepts. */
export function runSettings(): RunSettings {
  const config = vscode.workspace.getConfiguration('mlContainers');
  const named = <T>(key: string, parse: () => T): T => {
    try {
      return parse();
    } catch (e) {
      throw new Error(vscode.l10n.t('Setting mlContainers.{0}: {1}', key, e instanceof Error ? e.message : String(e)), { cause: e });
    }
  };
  const timeout = config.get<number>('jupyter.readyTimeout', 120);
  return {
    gpu: named('gpu', () => parseGpuSetting(config.get<unknown>('gpu', 'auto'))),
    shmSizeBytes: named('shmSize', () => parseSize(config.get<string>('shmSize', '8g'))),
    readyTimeoutMs: (Number.isFinite(timeout) && timeout > 0 ? timeout : 120) * 1000,
  };
}
