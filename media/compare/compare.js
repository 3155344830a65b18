// The Compare Runs page. It renders what the extension posts (core/run/comparePayload.ts) and reads nothing
// itself: a sortable table with the best value per metric marked, a metric picker, and a uPlot line chart per
// chosen metric with one line per run, in the theme's chart colours.
(function () {
  'use strict';
  const vscode = acquireVsCodeApi();
  const app = document.getElementById('app');
  /** What survives the page being hidden and shown again: the sort and the chosen metrics. */
  const saved = vscode.getState() || {};
  let sort = saved.sort || null;
  let chosen = saved.chosen || null;
  let payload = null;
  let strings = {};
  const chartData = new Map();
  const plots = new Map();

  // The theme's chart colours, then the same colours dashed, so that more runs than colours stay apart.
  const COLOURS = ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow'];
  const DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3]];
  const STEP_INCREMENTS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7].map((p) => m * p)).sort((a, b) => a - b);
  const css = (name, fallback) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
  const colour = (i) => css(COLOURS[i % COLOURS.length], '#888');
  const dash = (i) => DASHES[Math.floor(i / COLOURS.length) % DASHES.length];

  const save = () => vscode.setState({ sort, chosen });
  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const c of children) node.append(c);
    return node;
  };

  window.addEventListener('message', (event) => {
    const message = event.data;
    if (message.type === 'data') {
      payload = message.payload;
      strings = message.strings || {};
      chartData.clear();
      for (const c of payload.charts) chartData.set(c.metric, c);
      chosen = message.chosen;
      save();
      render();
    } else if (message.type === 'chart') {
      chartData.set(message.chart.metric, message.chart);
      renderCharts();
    } else if (message.type === 'error') {
      app.replaceChildren(el('p', { className: 'error', textContent: message.message }));
    }
  });

  function render() {
    app.removeAttribute('aria-busy');
    const refresh = el('button', { type: 'button', textContent: strings.refresh, className: 'refresh' });
    refresh.addEventListener('click', () => {
      app.setAttribute('aria-busy', 'true');
      vscode.postMessage({ type: 'refresh' });
    });
    const parts = [el('div', { className: 'toolbar' }, refresh), renderTable()];
    parts.push(el('p', { className: 'note', textContent: `${strings.configKeys}: ${payload.configKeys.length ? payload.configKeys.join(', ') : strings.none}` }));
    if (!payload.metricNames.length) {
      parts.push(el('p', { className: 'note', textContent: strings.noMetrics }));
    } else {
      parts.push(renderPicker(), el('div', { id: 'charts' }));
    }
    for (const p of plots.values()) p.destroy();
    plots.clear();
    app.replaceChildren(...parts);
    renderCharts();
  }

  function compareCells(a, b) {
    if (a.sort === null || a.sort === undefined) return b.sort === null || b.sort === undefined ? 0 : 1;
    if (b.sort === null || b.sort === undefined) return -1;
    if (typeof a.sort === 'number' && typeof b.sort === 'number') return a.sort - b.sort;
    if (typeof a.sort === 'number') return -1;
    if (typeof b.sort === 'number') return 1;
    return String(a.sort).localeCompare(String(b.sort), undefined, { numeric: true });
  }

  function renderTable() {
    const { columns, rows, best, runs } = payload;
    const order = rows.map((_, i) => i);
    const col = sort ? columns.findIndex((c) => c.key === sort.key) : -1;
    if (col >= 0) order.sort((a, b) => compareCells(rows[a][col], rows[b][col]) * (sort.dir === 'desc' ? -1 : 1) || a - b);
    const head = el('tr', {}, ...columns.map((c, j) => {
      const button = el('button', { type: 'button', textContent: c.title, title: c.kind === 'metric' && c.lowerIsBetter !== undefined ? (c.lowerIsBetter ? strings.lowest : strings.highest) : '' });
      button.addEventListener('click', () => {
        sort = sort && sort.key === c.key && sort.dir === 'asc' ? { key: c.key, dir: 'desc' } : { key: c.key, dir: 'asc' };
        save();
        document.getElementById('runs-table').replaceWith(renderTable());
      });
      const th = el('th', { scope: 'col', className: c.kind }, button);
      th.setAttribute('aria-sort', j === col ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none');
      return th;
    }));
    const body = order.map((i) => el('tr', {}, ...columns.map((c, j) => {
      const cell = rows[i][j];
      const td = el('td', { className: c.kind, textContent: cell.text });
      if (c.kind === 'run') {
        const swatch = el('span', { className: 'swatch' });
        swatch.style.background = colour(i);
        td.prepend(swatch);
      }
      if (best[c.key] === runs[i].id) {
        td.classList.add('best');
        td.append(el('span', { className: 'mark', textContent: ' ★', title: strings.best }));
      }
      return td;
    })));
    return el('table', { id: 'runs-table' }, el('thead', {}, head), el('tbody', {}, ...body));
  }

  function renderPicker() {
    const boxes = payload.metricNames.map((m) => {
      const box = el('input', { type: 'checkbox', checked: chosen.includes(m), value: m });
      box.addEventListener('change', () => {
        chosen = box.checked ? payload.metricNames.filter((n) => n === m || chosen.includes(n)) : chosen.filter((n) => n !== m);
        save();
        if (box.checked && !chartData.has(m)) vscode.postMessage({ type: 'chart', metric: m });
        renderCharts();
      });
      return el('label', {}, box, ` ${m}`);
    });
    return el('fieldset', { className: 'picker' }, el('legend', { textContent: strings.metrics }), ...boxes);
  }

  function renderCharts() {
    const area = document.getElementById('charts');
    if (!area) return;
    for (const [metric, plot] of plots) {
      if (!chosen.includes(metric) || !chartData.has(metric)) {
        plot.destroy();
        plots.delete(metric);
      }
    }
    const sections = chosen.map((metric) => {
      const existing = area.querySelector(`section[data-metric="${CSS.escape(metric)}"]`);
      if (existing && (plots.has(metric) || !chartData.has(metric))) return existing;
      const section = el('section', { className: 'chart' }, el('h3', { textContent: metric }));
      section.dataset.metric = metric;
      const chart = chartData.get(metric);
      if (!chart) section.append(el('p', { className: 'note', textContent: strings.loading }));
      else if (!chart.steps.length) section.append(el('p', { className: 'note', textContent: strings.noValues }));
      else {
        const plotArea = el('div', { className: 'plot' });
        section.append(plotArea);
        plots.set(metric, makePlot(chart, plotArea, area.clientWidth));
      }
      return section;
    });
    area.replaceChildren(...sections);
  }

  function makePlot(chart, target, width) {
    const fg = css('--vscode-foreground', '#ccc');
    const grid = css('--vscode-charts-lines', 'rgba(128,128,128,0.3)');
    const background = css('--vscode-editor-background', 'transparent');
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts = {
      width: Math.max(300, width - 8),
      height: 280,
      scales: { x: { time: false } },
      // Steps count: ticks on whole numbers only.
      axes: [{ ...axis, label: strings.step, incrs: STEP_INCREMENTS }, axis],
      series: [{ label: strings.step }, ...payload.runs.map((r, i) => ({ label: r.label, stroke: colour(i), dash: dash(i), width: 1.5, spanGaps: true, points: { fill: background } }))],
    };
    return new uPlot(opts, [chart.steps, ...chart.values], target);
  }

  // Width follows the panel; colours follow the theme (VS Code swaps the body's class on a theme change).
  let resizeFrame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => {
      const area = document.getElementById('charts');
      if (area) for (const p of plots.values()) p.setSize({ width: Math.max(300, area.clientWidth - 8), height: 280 });
    });
  }).observe(document.body);
  new MutationObserver(() => payload && render()).observe(document.body, { attributes: true, attributeFilter: ['class'] });

  vscode.postMessage({ type: 'ready', chosen });
})();
