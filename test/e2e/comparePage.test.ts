import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, comparePage, launchChromium, postedPayload, sweepRuns } from '../../bench/compareRender';
import { compareRuns } from '../../src/core/run/compare';
import type { ComparePayload } from '../../src/core/run/comparePayload';
import { comparePayload } from '../../src/core/run/comparePayload';

// The Compare Runs page alone in headless Chromium (the bench's harness, no code-server): fed a sweep's payload as
// the panel posts it, then brushed, sorted and scrolled as a user would.
describe('the Compare Runs page in headless Chromium (parallel coordinates, brushing, sorting, virtualized table)', function () {
  let browser: Browser;
  let dir: string;
  let page: string;
  let tab: Page;
  const errors: string[] = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`    skipped: no Chromium at ${CHROMIUM} (scripts/test-code-server.sh installs it; MLC_CHROMIUM points elsewhere)`);
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-compare-page-'));
    page = comparePage(dir);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function open(n: number): Promise<ComparePayload> {
    const { runs, series } = sweepRuns(n, 50);
    const payload = comparePayload(await compareRuns(runs), series);
    tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    tab.on('pageerror', (e) => errors.push(e.message));
    await tab.goto(`file://${page}`);
    await tab.evaluate('window.__ready');
    await tab.evaluate(`window.postMessage({ type: 'data', payload: ${postedPayload(payload)}, chosen: ['loss'], strings: {} }, '*')`);
    await tab.waitForSelector('.plot canvas');
    return payload;
  }

  /** The run column of each row in the DOM (a seed group's toggle left out). */
  const bodyRows = (): Promise<string[]> =>
    tab.evaluate(`[...document.querySelectorAll('#runs-table tbody tr:not(.spacer)')].map((tr) => tr.cells[0].lastChild.textContent)`);
  /** A seed group's row as the table shows it: its first run and size. */
  const groupRow = (payload: ComparePayload, k: number): string =>
    `${payload.runs[payload.seeds!.groups[k]!.runs[0]!]!.id} (${payload.seeds!.groups[k]!.runs.length} runs)`;
  /** Where the parallel-coordinates chart put an axis, in page pixels: its x, and the y of its top and bottom. */
  const axis = (id: string): Promise<{ x: number; top: number; bottom: number }> =>
    tab.evaluate(`(() => {
      const canvas = document.getElementById('parallel');
      canvas.scrollIntoView({ block: 'center' });
      const box = canvas.getBoundingClientRect();
      const a = canvas.axes.find((x) => x.id === ${JSON.stringify(id)});
      return { x: box.left + a.x, top: box.top + 30, bottom: box.top + 320 - 16 };
    })()`);

  /** The line chart's legend: a label per series (the step axis left out); `visible`: only the series shown. */
  const legend = (visible = false): Promise<string[]> =>
    tab.evaluate(
      `[...document.querySelectorAll('.plot .u-legend .u-series')].slice(1).filter((tr) => !${visible} || !tr.classList.contains('u-off')).map((tr) => tr.querySelector('.u-label').textContent)`,
    );

  it('draws a seed group in the line chart as its mean in a band of ± one standard deviation', async () => {
    const payload = await open(36);
    const groups = payload.seeds!.groups.map((g) => g.label);
    assert.deepEqual(
      await legend(),
      groups.flatMap((g) => [g, `${g} +σ`, `${g} −σ`]),
    );
  });

  afterEach(async () => {
    await tab?.close();
    assert.deepEqual(errors.splice(0), [], 'no script errors in the page');
  });

  it('draws an axis per swept param (the seed folded when grouped) and per chosen metric; a brush on lr filters the table, a click clears it', async () => {
    const payload = await open(36);
    assert.equal(payload.seeds?.groups.length, 12, 'a 2 × 3 × 2 grid (lr × batch × optimizer) of 3 seeds each');
    assert.deepEqual(await tab.evaluate(`document.getElementById('parallel').axes.map((a) => a.id)`), [
      'param:lr',
      'param:batch',
      'param:opt',
      'metric:loss',
    ]);
    assert.deepEqual(
      await bodyRows(),
      payload.seeds!.groups.map((_, k) => groupRow(payload, k)),
      'grouped: a row per seed group',
    );

    // lr is 1e-4 for runs 1–30 and 3e-4 for runs 31–36: brushing the upper half of its axis keeps the six of 3e-4.
    const lr = await axis('param:lr');
    await tab.mouse.move(lr.x, lr.top - 2);
    await tab.mouse.down();
    await tab.mouse.move(lr.x, (lr.top + lr.bottom) / 2, { steps: 5 });
    await tab.mouse.up();
    assert.deepEqual(await bodyRows(), [groupRow(payload, 10), groupRow(payload, 11)]);
    assert.deepEqual(
      await legend(true),
      payload.seeds!.groups.slice(10).flatMap((g) => [g.label, `${g.label} +σ`, `${g.label} −σ`]),
      'the line chart keeps the two groups inside the brush',
    );
    assert.match(await tab.evaluate<string>(`document.getElementById('shown-count').textContent`), /^6 \/ 36/);

    // The table above shrank: the chart moved up.
    const moved = await axis('param:lr');
    await tab.mouse.click(moved.x, (moved.top + moved.bottom) / 2);
    assert.equal((await bodyRows()).length, 12, 'a click without a drag clears the brush');

    await tab.click('label.group-seeds input');
    assert.deepEqual(
      await legend(),
      payload.runs.map((r) => r.label),
      'ungrouped: a line per run',
    );
    assert.deepEqual(await tab.evaluate(`document.getElementById('parallel').axes.map((a) => a.id)`), [
      'param:lr',
      'param:batch',
      'param:opt',
      'param:seed',
      'metric:loss',
    ]);
  });

  it("shows a seed group's row as mean ± std over its seeds, sorts the groups by it, and lists the group's runs when expanded", async () => {
    const payload = await open(36);
    const loss = payload.columns.findIndex((c) => c.key === 'metric:loss');
    const cells = (): Promise<string[][]> =>
      tab.evaluate(
        `[...document.querySelectorAll('#runs-table tbody tr')].map((tr) => [tr.className, tr.cells[0].lastChild.textContent, tr.cells[${loss}].firstChild.textContent])`,
      );
    const groups = payload.seeds!.groups;
    assert.deepEqual((await cells())[0], ['group', groupRow(payload, 0), groups[0]!.cells[loss]!.text]);
    assert.match(groups[0]!.cells[loss]!.text, /^[\d.]+ ± [\d.e-]+$/);
    const best = await tab.evaluate<string[]>(
      `[...document.querySelectorAll('#runs-table td.best')].map((td) => td.parentElement.cells[0].lastChild.textContent)`,
    );
    assert.deepEqual(best, [groupRow(payload, payload.seeds!.best['metric:loss']!)], 'the best mean marked');

    await tab.click('#runs-table th.metric button');
    const byMean = groups.map((g, k) => ({ k, mean: g.metrics.loss!.mean })).sort((a, b) => a.mean - b.mean || a.k - b.k);
    assert.deepEqual(
      await bodyRows(),
      byMean.map((g) => groupRow(payload, g.k)),
      'ascending by mean loss',
    );

    // Expanding the first group lists its three runs, each with its own loss, under its row.
    await tab.click('#runs-table tbody tr.group button.expand');
    const first = groups[byMean[0]!.k]!;
    const members = first.runs
      .map((i) => ({ id: payload.runs[i]!.id, loss: payload.rows[i]![loss]! }))
      .sort((a, b) => (a.loss.sort as number) - (b.loss.sort as number));
    assert.deepEqual((await cells()).slice(0, 5), [
      ['group', groupRow(payload, byMean[0]!.k), first.cells[loss]!.text],
      ...members.map((m) => ['member', m.id, m.loss.text]),
      ['group', groupRow(payload, byMean[1]!.k), groups[byMean[1]!.k]!.cells[loss]!.text],
    ]);
    assert.equal(await tab.getAttribute('#runs-table tbody tr.group button.expand', 'aria-expanded'), 'true');
    await tab.click('#runs-table tbody tr.group button.expand');
    assert.equal((await bodyRows()).length, 12, 'collapsed again');
  });

  it('sorts by a clicked header, and past 200 runs keeps only the rows in view in the DOM', async () => {
    const payload = await open(1000);
    await tab.click('label.group-seeds input');
    const rendered = await bodyRows();
    assert.ok(rendered.length > 0 && rendered.length < 200, `${rendered.length} rows in the DOM of 1,000`);
    const height = await tab.evaluate<number>(`document.getElementById('runs-table').getBoundingClientRect().height`);
    assert.ok(height > 1000 * 20, 'the spacers keep the scroll height of every row');

    const lossColumn = payload.columns.findIndex((c) => c.key === 'metric:loss');
    // Ties keep the table's order, in both directions.
    const byLoss = payload.rows
      .map((r, i) => ({ id: payload.runs[i]!.id, loss: r[lossColumn]!.sort as number, i }))
      .sort((a, b) => a.loss - b.loss || a.i - b.i);
    const highest = byLoss.filter((r) => r.loss === byLoss.at(-1)!.loss)[0]!;
    await tab.click('#runs-table th.metric button');
    assert.equal((await bodyRows())[0], byLoss[0]!.id, 'ascending: the lowest loss first');
    await tab.click('#runs-table th.metric button');
    assert.equal((await bodyRows())[0], highest.id, 'descending on the second click');

    await tab.evaluate(`(() => { const s = document.getElementById('runs-scroll'); s.scrollTop = s.scrollHeight; })()`);
    await tab.waitForFunction(
      `(() => { const rows = document.querySelectorAll('#runs-table tbody tr:not(.spacer)'); return rows.length && rows[rows.length - 1].cells[0].textContent === ${JSON.stringify(byLoss.filter((r) => r.loss === byLoss[0]!.loss).at(-1)!.id)}; })()`,
      undefined,
      { timeout: 5000 },
    );
    assert.ok((await bodyRows()).length < 200, 'scrolled to the end, still only the rows in view');
  });
});
