import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Logger } from '../core/log';
import type { RunComparison } from '../core/run/compare';
import { compareChart, comparePayload, packChart, readChartSeries } from '../core/run/comparePayload';
import { headlineMetricSetting } from './settings';

/** What a panel shows: a comparison, read afresh on each call (Refresh), of runs in this workspace. */
export interface ComparisonSource {
  workspace: string;
  title: string;
  load(): Promise<RunComparison>;
}

/** Messages the webview sends; anything else is ignored (the page is ours, but its messages cross a boundary). */
type FromWebview = { type: 'ready'; chosen?: string[] } | { type: 'chart'; metric: string } | { type: 'refresh' };

function parseMessage(raw: unknown): FromWebview | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const m = raw as Record<string, unknown>;
  if (m.type === 'ready')
    return { type: 'ready', ...(Array.isArray(m.chosen) ? { chosen: m.chosen.filter((c): c is string => typeof c === 'string') } : {}) };
  if (m.type === 'chart' && typeof m.metric === 'string') return { type: 'chart', metric: m.metric };
  if (m.type === 'refresh') return { type: 'refresh' };
  return undefined;
}

/**
 * The one Compare Runs panel: a webview that renders what the extension posts (a table and uPlot charts) and reads
 * nothing itself. Opening another comparison reuses it.
 */
export class ComparePanel {
  private static current: ComparePanel | undefined;
  private comparison: RunComparison | undefined;
  private chosen: string[] = [];

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private source: ComparisonSource,
    private readonly log: Logger,
  ) {
    panel.onDidDispose(() => {
      if (ComparePanel.current === this) ComparePanel.current = undefined;
    });
    panel.webview.onDidReceiveMessage((raw: unknown) => {
      const message = parseMessage(raw);
      if (message) void this.handle(message).catch((e: unknown) => this.fail(e));
    });
  }

  /** Shows `source` in the panel, opening it (beside nothing else: one panel) or revealing the open one. */
  static show(mediaDir: vscode.Uri, source: ComparisonSource, log: Logger): ComparePanel {
    const open = ComparePanel.current;
    if (open) {
      open.source = source;
      open.comparison = undefined;
      open.panel.title = source.title;
      open.panel.reveal();
      void open.send().catch((e: unknown) => open.fail(e));
      return open;
    }
    const panel = vscode.window.createWebviewPanel('mlContainers.compareRuns', source.title, vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [mediaDir],
    });
    panel.iconPath = vscode.Uri.joinPath(mediaDir, 'activitybar.svg');
    panel.webview.html = html(panel.webview, mediaDir);
    ComparePanel.current = new ComparePanel(panel, source, log);
    return ComparePanel.current;
  }

  private async handle(message: FromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
        // The page (re)loaded: after a reveal it has forgotten everything but the metrics it had chosen.
        if (message.chosen) this.chosen = message.chosen;
        return this.send();
      case 'refresh':
        this.comparison = undefined;
        return this.send();
      case 'chart': {
        const c = this.comparison;
        if (!c?.metricNames.includes(message.metric)) return;
        if (!this.chosen.includes(message.metric)) this.chosen.push(message.metric);
        const ids = c.runs.map((r) => r.id);
        const series = await readChartSeries(this.source.workspace, ids, [message.metric]);
        await this.panel.webview.postMessage({
          type: 'chart',
          chart: packChart(
            compareChart(
              message.metric,
              ids.map((id) => series.get(id)?.[0]),
            ),
          ),
        });
        return;
      }
    }
  }

  /** The table and the charts of the chosen metrics (at first: the headline metric, else the first metric). */
  private async send(): Promise<void> {
    const c = (this.comparison ??= await this.source.load());
    let chosen = this.chosen.filter((m) => c.metricNames.includes(m));
    if (!chosen.length) {
      const headline = headlineMetricSetting();
      chosen = c.metricNames.includes(headline) ? [headline] : c.metricNames.slice(0, 1);
    }
    this.chosen = chosen;
    const series = await readChartSeries(
      this.source.workspace,
      c.runs.map((r) => r.id),
      chosen,
    );
    const payload = comparePayload(c, series);
    await this.panel.webview.postMessage({
      type: 'data',
      payload: { ...payload, charts: payload.charts.map(packChart) },
      chosen,
      strings: strings(),
    });
  }

  private fail(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    this.log.error(`compare runs: ${message}`);
    void this.panel.webview.postMessage({ type: 'error', message });
  }
}

/** The page: our script and uPlot from media/, nothing inline but a nonce'd script tag, nothing remote. */
function html(webview: vscode.Webview, media: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const uri = (...parts: string[]): string => webview.asWebviewUri(vscode.Uri.joinPath(media, ...parts)).toString();
  const csp = [
    `default-src 'none'`,
    `script-src ${webview.cspSource} 'nonce-${nonce}'`,
    `style-src ${webview.cspSource}`,
    `img-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${uri('vendor', 'uPlot.min.css')}">
<link rel="stylesheet" href="${uri('compare', 'compare.css')}">
<title>${vscode.l10n.t('Compare Runs')}</title>
</head>
<body>
<main id="app" aria-busy="true"><p class="note">${vscode.l10n.t('Reading the runs…')}</p></main>
<script nonce="${nonce}" src="${uri('vendor', 'uPlot.iife.min.js')}"></script>
<script nonce="${nonce}" src="${uri('compare', 'compare.js')}"></script>
</body>
</html>`;
}

/** The page's words, translated here (the webview has no l10n of its own). */
function strings(): Record<string, string> {
  return {
    metrics: vscode.l10n.t('Metrics'),
    refresh: vscode.l10n.t('Refresh'),
    step: vscode.l10n.t('step'),
    best: vscode.l10n.t('best'),
    lowest: vscode.l10n.t('lowest is best'),
    highest: vscode.l10n.t('highest is best'),
    noMetrics: vscode.l10n.t(
      'No metrics recorded: write $MLC_RUN_DIR/metrics.jsonl (one {"step": N, "loss": …} per line), a Lightning CSVLogger, DVCLive or TensorBoard files.',
    ),
    noValues: vscode.l10n.t('No values of this metric yet.'),
    configKeys: vscode.l10n.t('Config keys that differ'),
    none: vscode.l10n.t('none'),
    loading: vscode.l10n.t('Reading…'),
    runsShown: vscode.l10n.t('runs shown'),
    groupSeeds: vscode.l10n.t('Group seeds'),
    showRuns: vscode.l10n.t('Show its runs'),
    hideRuns: vscode.l10n.t('Hide its runs'),
    parallel: vscode.l10n.t('Parameters and metrics (drag on an axis to filter, click it to clear)'),
    colourBy: vscode.l10n.t('Colour by'),
    ramp: vscode.l10n.t('blue: worst, orange: best'),
    scatter: vscode.l10n.t('Scatter'),
    against: vscode.l10n.t('against'),
  };
}
