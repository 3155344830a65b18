import * as vscode from 'vscode';
import { formatDoctorReport, runDoctor } from '../../core/doctor';
import { withCancellableProgress } from '../progress';
import type { Services } from '../services';

export async function doctorCommand(services: Services): Promise<void> {
  const report = await withCancellableProgress(vscode.l10n.t('Checking the Docker engine…'), (signal) =>
    runDoctor(services.engines.get(), signal),
  );
  const log = services.log.child('doctor');
  for (const line of formatDoctorReport(report)) {
    log.info(line);
  }
  const showLogs = vscode.l10n.t('Show Logs');
  const summary = vscode.l10n.t(
    '{0} {1} answers at {2}. BuildKit: {3}. GPU: {4}.',
    report.engine.isPodman ? 'Podman' : 'Docker',
    report.engine.version,
    services.engines.get().endpoint.host,
    report.buildKit.available ? vscode.l10n.t('yes') : vscode.l10n.t('no'),
    report.gpu.summary,
  );
  const choice = await vscode.window.showInformationMessage(summary, showLogs);
  if (choice === showLogs) {
    services.logChannel.show();
  }
}
