// The Compare Runs page. It renders what the extension posts (core/run/comparePayload.ts) and reads nothing
// itself: a sortable table (virtualized past VIRTUAL_ROWS) with the best value per metric marked, a metric picker,
// a parallel-coordinates chart of the swept params and chosen metrics whose brushes filter the table and the line
// charts, a scatter of one param against one metric, and a uPlot line chart per chosen metric with one line per
// run (downsampled to what the pixels show), in the theme's chart colours. Every text from the runs goes through
// textContent or a canvas's fillText: metric names and params come from what a container wrote.
(function () {
  'use strict';
  const vscode = acquireVsCodeApi();
  const app = document.getElementById('app');
  /** What survives the page being hidden and shown again: the sort and the chosen metrics. */
  const saved = vscode.getState() || {};
  let sort = saved.sort || null;
  let chosen = saved.chosen || null;
  let colourBy = saved.colourBy || null;
  let scatterParam = saved.scatterParam || null;
  let scatterMetric = saved.scatterMetric || null;
  let grouped = saved.grouped !== false;
  /** The seed groups (by index) whose runs the table lists under their row. */
  const expanded = new Set(saved.expanded || []);
  /** Per axis id, the brushed range in the axis's own 0 (bottom) … 1 (top) positions. */
  let brushes = saved.brushes || {};
  /** shown[i]: run i is inside every brush. */
  let shown = [];
  let payload = null;
  let strings = {};
  const chartData = new Map();
  const plots = new Map();

  // The theme's chart colours, then the same colours dashed, so that more runs than colours stay apart.
  const COLOURS = [
    '--vscode-charts-blue',
    '--vscode-charts-orange',
    '--vscode-charts-green',
    '--vscode-charts-purple',
    '--vscode-charts-red',
    '--vscode-charts-yellow',
  ];
  const DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3]];
  const STEP_INCREMENTS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7].map((p) => m * p)).sort((a, b) => a - b);
  const css = (name, fallback) => getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
  const colour = (i) => css(COLOURS[i % COLOURS.length], '#888');
  const dash = (i) => DASHES[Math.floor(i / COLOURS.length) % DASHES.length];

  const VIRTUAL_ROWS = 200;
  const ROW_HEIGHT = 24;
  const save = () => vscode.setState({ sort, chosen, colourBy, scatterParam, scatterMetric, grouped, expanded: [...expanded], brushes });
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
    shown = [];
    const refresh = el('button', { type: 'button', textContent: strings.refresh, className: 'refresh' });
    refresh.addEventListener('click', () => {
      app.setAttribute('aria-busy', 'true');
      vscode.postMessage({ type: 'refresh' });
    });
    const tools = [el('span', { id: 'shown-count', className: 'note' })];
    if (payload.seeds) {
      const box = el('input', { type: 'checkbox', checked: grouped });
      box.addEventListener('change', () => {
        grouped = box.checked;
        brushes = {};
        save();
        render();
      });
      tools.push(el('label', { className: 'group-seeds' }, box, ` ${strings.groupSeeds} (${payload.seeds.key})`));
    }
    const parts = [el('div', { className: 'toolbar' }, ...tools, refresh), renderTable()];
    parts.push(
      el('p', {
        className: 'note',
        textContent: `${strings.configKeys}: ${payload.configKeys.length ? payload.configKeys.join(', ') : strings.none}`,
      }),
    );
    if (!payload.metricNames.length) {
      parts.push(el('p', { className: 'note', textContent: strings.noMetrics }));
    } else {
      parts.push(renderPicker(), renderParallel(), renderScatter(), el('div', { id: 'charts' }));
    }
    for (const p of plots.values()) p.destroy();
    plots.clear();
    app.replaceChildren(...parts);
    applyFilter();
    renderCharts();
  }

  // What the parallel-coordinates chart and the scatter draw: one item per run, or per seed group when grouped.
  function items() {
    if (grouped && payload.seeds) return payload.seeds.groups.map((g) => ({ runs: g.runs, label: g.label, group: g }));
    return payload.runs.map((r, i) => ({ runs: [i], label: r.label, group: null }));
  }

  function metricColumn(m) {
    return payload.columns.findIndex((c) => c.key === `metric:${m}`);
  }

  function metricValue(item, m, col) {
    if (item.group) {
      const s = item.group.metrics[m];
      return s && Number.isFinite(s.mean) ? s.mean : null;
    }
    const v = payload.rows[item.runs[0]][col].sort;
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  }

  /** An axis: its values per item, and where a value sits on it, from 0 (bottom) to 1 (top); null: not on it. */
  function makeAxis(id, title, scale, values, categories) {
    const finite = values.filter((v) => v !== null && (scale !== 'log' || v > 0));
    const tf = (v) => (scale === 'log' ? Math.log10(v) : v);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of finite) {
      lo = Math.min(lo, tf(v));
      hi = Math.max(hi, tf(v));
    }
    const pos = (v) => {
      if (v === null || (scale === 'log' && !(v > 0))) return null;
      if (scale === 'categorical') return categories.length > 1 ? v / (categories.length - 1) : 0.5;
      return hi > lo ? (tf(v) - lo) / (hi - lo) : 0.5;
    };
    return { id, title, scale, categories, values, positions: values.map(pos), lo, hi };
  }

  function paramAxes(list) {
    return payload.params
      .filter((p) => !(grouped && payload.seeds && p.seed))
      .map((p) =>
        makeAxis(
          `param:${p.key}`,
          p.key,
          p.scale,
          list.map((it) => p.at[it.runs[0]]),
          p.categories,
        ),
      );
  }

  function metricAxis(m, list) {
    const col = metricColumn(m);
    return makeAxis(
      `metric:${m}`,
      m,
      'linear',
      list.map((it) => metricValue(it, m, col)),
    );
  }

  function parallelAxes(list) {
    return [...paramAxes(list), ...chosen.filter((m) => metricColumn(m) >= 0).map((m) => metricAxis(m, list))];
  }

  /** Which runs lie inside every brush (a run of a group counts as its group); then every view shows only those. */
  function applyFilter() {
    const list = items();
    const axes = parallelAxes(list);
    for (const id of Object.keys(brushes)) if (!axes.some((a) => a.id === id)) delete brushes[id];
    shown = payload.runs.map(() => false);
    list.forEach((item, k) => {
      const inside = axes.every((a) => {
        const b = brushes[a.id];
        const p = a.positions[k];
        return !b || (p !== null && p >= b[0] - 1e-9 && p <= b[1] + 1e-9);
      });
      if (inside) for (const i of item.runs) shown[i] = true;
    });
    const count = document.getElementById('shown-count');
    if (count) count.textContent = `${shown.filter(Boolean).length} / ${payload.runs.length} ${strings.runsShown || ''}`;
    const table = document.getElementById('runs-table');
    if (table) fillBody(table);
    drawParallel();
    drawScatter();
    for (const plot of plots.values()) {
      plot.batch(() => {
        plot.seriesRuns.forEach((runs, k) => {
          const s = runs.some((i) => shown[i]);
          if (plot.series[k + 1].show !== s) plot.setSeries(k + 1, { show: s });
        });
      });
    }
  }

  function compareCells(a, b) {
    if (a.sort === null || a.sort === undefined) return b.sort === null || b.sort === undefined ? 0 : 1;
    if (b.sort === null || b.sort === undefined) return -1;
    if (typeof a.sort === 'number' && typeof b.sort === 'number') return a.sort - b.sort;
    if (typeof a.sort === 'number') return -1;
    if (typeof b.sort === 'number') return 1;
    return String(a.sort).localeCompare(String(b.sort), undefined, { numeric: true });
  }

  /** The table's rows in order: run indices, or (grouped) seed groups, each followed by its runs when expanded. */
  function sortedOrder() {
    const { columns, rows } = payload;
    const col = sort ? columns.findIndex((c) => c.key === sort.key) : -1;
    const dir = sort && sort.dir === 'desc' ? -1 : 1;
    const byColumn = (cellsOf) => (a, b) => (col >= 0 ? compareCells(cellsOf(a)[col], cellsOf(b)[col]) * dir : 0) || a - b;
    const runOrder = (list) => list.filter((i) => shown[i] !== false).sort(byColumn((i) => rows[i]));
    if (!(grouped && payload.seeds)) return runOrder(rows.map((_, i) => i)).map((i) => ({ run: i }));
    const groups = payload.seeds.groups;
    const order = groups
      .map((_, k) => k)
      .filter((k) => groups[k].runs.some((i) => shown[i] !== false))
      .sort(byColumn((k) => groups[k].cells));
    return order.flatMap((k) => [
      { group: k },
      ...(expanded.has(k) ? runOrder([...groups[k].runs]).map((i) => ({ run: i, member: k })) : []),
    ]);
  }

  function renderTable() {
    const { columns } = payload;
    const col = sort ? columns.findIndex((c) => c.key === sort.key) : -1;
    const head = el(
      'tr',
      {},
      ...columns.map((c, j) => {
        const button = el('button', {
          type: 'button',
          textContent: c.title,
          title: c.kind === 'metric' && c.lowerIsBetter !== undefined ? (c.lowerIsBetter ? strings.lowest : strings.highest) : '',
        });
        button.addEventListener('click', () => {
          sort = sort && sort.key === c.key && sort.dir === 'asc' ? { key: c.key, dir: 'desc' } : { key: c.key, dir: 'asc' };
          save();
          document.getElementById('runs-scroll').replaceWith(renderTable());
        });
        const th = el('th', { scope: 'col', className: c.kind }, button);
        th.setAttribute('aria-sort', j === col ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none');
        return th;
      }),
    );
    const table = el('table', { id: 'runs-table' }, el('thead', {}, head), el('tbody', {}));
    const scroll = el('div', { id: 'runs-scroll' }, table);
    // Past VIRTUAL_ROWS, the table scrolls in its own box and holds only the rows in view (and spacers for the rest).
    scroll.addEventListener('scroll', () => {
      if (!scroll.classList.contains('virtual')) return;
      cancelAnimationFrame(scrollFrame);
      scrollFrame = requestAnimationFrame(() => fillBody(table));
    });
    fillBody(table);
    return scroll;
  }
  let scrollFrame = 0;

  function fillBody(table) {
    const { columns, rows, best, runs } = payload;
    const order = sortedOrder();
    const scroll = table.parentElement;
    const virtual = order.length > VIRTUAL_ROWS;
    if (scroll) scroll.classList.toggle('virtual', virtual);
    let first = 0;
    let last = order.length;
    if (virtual) {
      const view = scroll && scroll.clientHeight ? scroll.clientHeight : 20 * ROW_HEIGHT;
      first = Math.max(0, Math.floor((scroll ? scroll.scrollTop : 0) / ROW_HEIGHT) - 10);
      last = Math.min(order.length, first + Math.ceil(view / ROW_HEIGHT) + 20);
    }
    const spacer = (n) => {
      const tr = el('tr', { className: 'spacer' }, el('td', { colSpan: columns.length }));
      tr.style.height = `${n * ROW_HEIGHT}px`;
      return tr;
    };
    const body = order.slice(first, last).map((row) => {
      const group = row.group === undefined ? null : payload.seeds.groups[row.group];
      const cells = group ? group.cells : rows[row.run];
      const tr = el(
        'tr',
        { className: group ? 'group' : row.member !== undefined ? 'member' : '' },
        ...columns.map((c, j) => {
          const td = el('td', { className: c.kind, textContent: cells[j].text });
          if (c.kind === 'run') {
            const swatch = el('span', { className: 'swatch' });
            // Grouped, the charts colour a group (and so its runs) by its index among the groups.
            swatch.style.background = colour(group ? row.group : row.member !== undefined ? row.member : row.run);
            td.prepend(swatch);
            if (group) td.prepend(toggle(row.group));
          }
          if (group ? payload.seeds.best[c.key] === row.group : row.member === undefined && best[c.key] === runs[row.run].id) {
            td.classList.add('best');
            td.append(el('span', { className: 'mark', textContent: ' ★', title: strings.best }));
          }
          return td;
        }),
      );
      return tr;
    });
    if (virtual) {
      if (first > 0) body.unshift(spacer(first));
      if (last < order.length) body.push(spacer(order.length - last));
    }
    table.tBodies[0].replaceChildren(...body);
  }

  /** The button that shows or hides a seed group's runs under its row. */
  function toggle(k) {
    const open = expanded.has(k);
    const button = el('button', {
      type: 'button',
      className: 'expand',
      textContent: open ? '▾' : '▸',
      title: open ? strings.hideRuns || 'Hide its runs' : strings.showRuns || 'Show its runs',
    });
    button.setAttribute('aria-expanded', String(open));
    button.addEventListener('click', () => {
      if (open) expanded.delete(k);
      else expanded.add(k);
      save();
      const table = document.getElementById('runs-table');
      if (table) fillBody(table);
    });
    return button;
  }

  function renderPicker() {
    const boxes = payload.metricNames.map((m) => {
      const box = el('input', { type: 'checkbox', checked: chosen.includes(m), value: m });
      box.addEventListener('change', () => {
        chosen = box.checked ? payload.metricNames.filter((n) => n === m || chosen.includes(n)) : chosen.filter((n) => n !== m);
        save();
        if (box.checked && !chartData.has(m)) vscode.postMessage({ type: 'chart', metric: m });
        renderCharts();
        applyFilter();
      });
      return el('label', {}, box, ` ${m}`);
    });
    return el('fieldset', { className: 'picker' }, el('legend', { textContent: strings.metrics }), ...boxes);
  }

  function select(options, value, onChange) {
    const node = el('select', {}, ...options.map((o) => el('option', { value: o, textContent: o, selected: o === value })));
    node.addEventListener('change', () => onChange(node.value));
    return node;
  }

  /** A canvas sized to its box in device pixels, and its 2D context in CSS pixels. */
  function sizeCanvas(canvas, height) {
    const width = Math.max(300, (canvas.parentElement ? canvas.parentElement.clientWidth : 600) - 8);
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return { ctx, width, height };
  }

  /** The theme colour as [r, g, b] (the canvas normalizes any CSS colour to #rrggbb). */
  function rgb(ctx, name, fallback) {
    ctx.fillStyle = fallback;
    ctx.fillStyle = css(name, fallback);
    const hex = String(ctx.fillStyle);
    return /^#[0-9a-f]{6}$/i.test(hex) ? [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)) : [128, 128, 128];
  }

  /** The two-colour ramp of the colour metric: worst (blue) to best (orange), whichever way the metric counts better. */
  function rampOf(ctx, list) {
    if (!colourBy || metricColumn(colourBy) < 0) return () => css('--vscode-charts-blue', '#3794ff');
    const axis = metricAxis(colourBy, list);
    const column = payload.columns[metricColumn(colourBy)];
    const a = rgb(ctx, '--vscode-charts-blue', '#3794ff');
    const b = rgb(ctx, '--vscode-charts-orange', '#d18616');
    return (k) => {
      let t = axis.positions[k];
      if (t === null) return css('--vscode-disabledForeground', '#888');
      if (column.lowerIsBetter) t = 1 - t;
      return `rgb(${a.map((x, c) => Math.round(x + (b[c] - x) * t)).join(',')})`;
    };
  }

  function tickLabels(axis) {
    if (axis.scale === 'categorical')
      return axis.categories.map((c, i) => [axis.categories.length > 1 ? i / (axis.categories.length - 1) : 0.5, c]);
    if (!Number.isFinite(axis.lo)) return [];
    if (axis.scale === 'log') {
      const out = [];
      for (let e = Math.ceil(axis.lo - 1e-9); e <= axis.hi + 1e-9; e++)
        out.push([axis.hi > axis.lo ? (e - axis.lo) / (axis.hi - axis.lo) : 0.5, `1e${e}`]);
      return out;
    }
    const fmt = (v) => String(Number(v.toPrecision(3)));
    return axis.hi > axis.lo
      ? [
          [0, fmt(axis.lo)],
          [0.5, fmt((axis.lo + axis.hi) / 2)],
          [1, fmt(axis.hi)],
        ]
      : [[0.5, fmt(axis.lo)]];
  }

  const PC = { top: 30, bottom: 16, side: 48, height: 320 };

  function renderParallel() {
    const metrics = payload.metricNames.filter((m) => metricColumn(m) >= 0);
    if (!colourBy || !metrics.includes(colourBy)) colourBy = chosen.find((m) => metrics.includes(m)) || metrics[0] || null;
    const canvas = el('canvas', { id: 'parallel', className: 'parallel' });
    canvas.setAttribute('aria-label', strings.parallel || 'parallel coordinates');
    let drag = null;
    const axisAt = (x) => {
      const axes = canvas.axes || [];
      let best = null;
      for (const a of axes) if (Math.abs(a.x - x) <= 14 && (!best || Math.abs(a.x - x) < Math.abs(best.x - x))) best = a;
      return best;
    };
    const posAt = (y) => Math.min(1, Math.max(0, 1 - (y - PC.top) / (PC.height - PC.top - PC.bottom)));
    canvas.addEventListener('pointerdown', (e) => {
      const a = axisAt(e.offsetX);
      if (!a) return;
      drag = { id: a.id, y0: e.offsetY, moved: false };
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!drag) return;
      if (Math.abs(e.offsetY - drag.y0) > 3) drag.moved = true;
      if (!drag.moved) return;
      const p = [posAt(drag.y0), posAt(e.offsetY)].sort((x, y) => x - y);
      brushes[drag.id] = p;
      drawParallel();
    });
    canvas.addEventListener('pointerup', () => {
      if (!drag) return;
      // A click without a drag clears that axis's brush.
      if (!drag.moved) delete brushes[drag.id];
      drag = null;
      save();
      applyFilter();
    });
    const picker = select(metrics, colourBy, (m) => {
      colourBy = m;
      save();
      drawParallel();
      drawScatter();
    });
    return el(
      'section',
      { className: 'views' },
      el('h3', { textContent: strings.parallel }),
      el('label', { className: 'note' }, `${strings.colourBy} `, picker, ` (${strings.ramp})`),
      el('div', { className: 'canvas-box' }, canvas),
    );
  }

  function drawParallel() {
    const canvas = document.getElementById('parallel');
    if (!canvas) return;
    const { ctx, width } = sizeCanvas(canvas, PC.height);
    const list = items();
    const axes = parallelAxes(list);
    const span = width - 2 * PC.side;
    axes.forEach((a, k) => {
      a.x = axes.length > 1 ? PC.side + (k * span) / (axes.length - 1) : width / 2;
    });
    canvas.axes = axes;
    const y = (p) => PC.top + (1 - p) * (PC.height - PC.top - PC.bottom);
    const ramp = rampOf(ctx, list);
    const inside = list.map((item) => item.runs.some((i) => shown[i]));
    const line = (k) => {
      ctx.beginPath();
      let open = false;
      for (const a of axes) {
        const p = a.positions[k];
        if (p === null) {
          open = false;
          continue;
        }
        if (open) ctx.lineTo(a.x, y(p));
        else ctx.moveTo(a.x, y(p));
        open = true;
      }
      ctx.stroke();
    };
    ctx.lineWidth = 1;
    ctx.globalAlpha = 0.12;
    ctx.strokeStyle = css('--vscode-disabledForeground', '#888');
    list.forEach((_, k) => !inside[k] && line(k));
    ctx.globalAlpha = list.length > 200 ? 0.5 : 0.85;
    ctx.lineWidth = list.length > 200 ? 1 : 1.5;
    list.forEach((_, k) => {
      if (!inside[k]) return;
      ctx.strokeStyle = ramp(k);
      line(k);
    });
    ctx.globalAlpha = 1;
    const fg = css('--vscode-foreground', '#ccc');
    ctx.font = `11px ${css('--vscode-font-family', 'sans-serif')}`;
    ctx.fillStyle = fg;
    ctx.strokeStyle = fg;
    const room = axes.length > 1 ? span / (axes.length - 1) - 6 : width;
    for (const a of axes) {
      ctx.beginPath();
      ctx.moveTo(a.x, y(0));
      ctx.lineTo(a.x, y(1));
      ctx.stroke();
      ctx.textAlign = 'center';
      ctx.fillText(a.title + (a.scale === 'log' ? ' (log)' : ''), a.x, 12, Math.max(40, room));
      ctx.textAlign = 'left';
      const ticks = tickLabels(a);
      const every = Math.max(1, Math.ceil(ticks.length / 12));
      ticks.forEach(([p, text], i) => {
        if (i % every) return;
        ctx.fillRect(a.x - 3, y(p), 6, 1);
        ctx.fillText(text, a.x + 5, y(p) + 4, Math.max(30, room / 2));
      });
      const b = brushes[a.id];
      if (b) {
        ctx.fillStyle = css('--vscode-editor-selectionBackground', 'rgba(38,79,120,0.6)');
        ctx.globalAlpha = 0.6;
        ctx.fillRect(a.x - 7, y(b[1]), 14, y(b[0]) - y(b[1]));
        ctx.globalAlpha = 1;
        ctx.fillStyle = fg;
      }
    }
  }

  const SC = { top: 12, bottom: 30, left: 64, right: 16, height: 300 };

  function renderScatter() {
    const params = payload.params.filter((p) => !(grouped && payload.seeds && p.seed)).map((p) => p.key);
    const metrics = payload.metricNames.filter((m) => metricColumn(m) >= 0);
    if (!params.length) return el('span');
    if (!params.includes(scatterParam)) scatterParam = params[0];
    if (!metrics.includes(scatterMetric)) scatterMetric = colourBy || metrics[0];
    const onChange = () => {
      save();
      drawScatter();
    };
    const x = select(params, scatterParam, (v) => {
      scatterParam = v;
      onChange();
    });
    const yPick = select(metrics, scatterMetric, (v) => {
      scatterMetric = v;
      onChange();
    });
    return el(
      'section',
      { className: 'views' },
      el('h3', { textContent: strings.scatter }),
      el('label', { className: 'note' }, x, ` ${strings.against} `, yPick),
      el('div', { className: 'canvas-box' }, el('canvas', { id: 'scatter', className: 'scatter' })),
    );
  }

  function drawScatter() {
    const canvas = document.getElementById('scatter');
    if (!canvas) return;
    const { ctx, width } = sizeCanvas(canvas, SC.height);
    const list = items();
    const param = payload.params.find((p) => p.key === scatterParam);
    if (!param || metricColumn(scatterMetric) < 0) return;
    const xa = makeAxis(
      `param:${param.key}`,
      param.key,
      param.scale,
      list.map((it) => param.at[it.runs[0]]),
      param.categories,
    );
    const ya = metricAxis(scatterMetric, list);
    const pad = param.scale === 'categorical' ? 0.08 : 0.02;
    const px = (p) => SC.left + (pad + p * (1 - 2 * pad)) * (width - SC.left - SC.right);
    const py = (p) => SC.top + (1 - (0.03 + p * 0.94)) * (SC.height - SC.top - SC.bottom);
    const ramp = rampOf(ctx, list);
    const fg = css('--vscode-foreground', '#ccc');
    ctx.strokeStyle = css('--vscode-charts-lines', 'rgba(128,128,128,0.5)');
    ctx.strokeRect(SC.left, SC.top, width - SC.left - SC.right, SC.height - SC.top - SC.bottom);
    list.forEach((item, k) => {
      const p = xa.positions[k];
      const q = ya.positions[k];
      if (p === null || q === null) return;
      const on = item.runs.some((i) => shown[i]);
      ctx.globalAlpha = on ? 0.85 : 0.15;
      ctx.fillStyle = on ? ramp(k) : css('--vscode-disabledForeground', '#888');
      ctx.beginPath();
      ctx.arc(px(p), py(q), item.group ? 4 : 3, 0, 2 * Math.PI);
      ctx.fill();
    });
    ctx.globalAlpha = 1;
    ctx.fillStyle = fg;
    ctx.font = `11px ${css('--vscode-font-family', 'sans-serif')}`;
    ctx.textAlign = 'center';
    const xt = tickLabels(xa);
    const every = Math.max(1, Math.ceil(xt.length / 10));
    xt.forEach(([p, text], i) => i % every || ctx.fillText(text, px(p), SC.height - SC.bottom + 14, 80));
    ctx.fillText(`${param.key}${param.scale === 'log' ? ' (log)' : ''}`, SC.left + (width - SC.left - SC.right) / 2, SC.height - 2, width);
    ctx.textAlign = 'right';
    for (const [p, text] of tickLabels(ya)) ctx.fillText(text, SC.left - 4, py(p) + 4, SC.left - 6);
    ctx.save();
    ctx.translate(10, SC.top + (SC.height - SC.top - SC.bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.fillText(scatterMetric, 0, 0, SC.height);
    ctx.restore();
  }

  /**
   * uPlot's data from a packed chart (one Float64Array of every run's values, NaN a gap), at most two points per
   * pixel: past that the steps are cut into `buckets` equal spans, each kept as its first and last step, where each
   * run gets its min and max there (in the order they came), so that spikes survive.
   */
  function downsample(chart, buckets) {
    const { steps, values } = chart;
    const n = steps.length;
    const runs = n ? values.length / n : 0;
    if (n <= 2 * buckets || n < 2) {
      const rows = [];
      for (let r = 0; r < runs; r++) {
        const row = new Array(n);
        for (let i = 0; i < n; i++) {
          const v = values[r * n + i];
          row[i] = v === v ? v : null;
        }
        rows.push(row);
      }
      return [Array.from(steps), ...rows];
    }
    const x0 = steps[0];
    const scale = buckets / (steps[n - 1] - x0 || 1);
    const starts = [];
    let prev = -1;
    for (let i = 0; i < n; i++) {
      const k = Math.min(buckets - 1, Math.floor((steps[i] - x0) * scale));
      if (k !== prev) starts.push(i);
      prev = k;
    }
    starts.push(n);
    const xs = [];
    const slots = [];
    for (let b = 0; b + 1 < starts.length; b++) {
      const from = starts[b];
      const to = starts[b + 1];
      slots.push(xs.length);
      xs.push(steps[from]);
      if (to - from > 1) xs.push(steps[to - 1]);
    }
    const out = [];
    for (let r = 0; r < runs; r++) {
      const base = r * n;
      const ys = new Array(xs.length).fill(null);
      for (let b = 0; b + 1 < starts.length; b++) {
        let lo = -1;
        let hi = -1;
        for (let i = starts[b]; i < starts[b + 1]; i++) {
          const v = values[base + i];
          if (v !== v) continue;
          if (lo < 0 || v < values[base + lo]) lo = i;
          if (hi < 0 || v > values[base + hi]) hi = i;
        }
        if (lo < 0) continue;
        const s = slots[b];
        const first = Math.min(lo, hi);
        const second = Math.max(lo, hi);
        ys[s] = values[base + first];
        if (starts[b + 1] - starts[b] > 1 && first !== second) ys[s + 1] = values[base + second];
      }
      out.push(ys);
    }
    return [xs, ...out];
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
    const plotWidth = Math.max(300, width - 8);
    const data = downsample(chart, Math.max(1, Math.floor(plotWidth)));
    // Past the 24 colour-and-dash pairs no line can be told apart by its look (the table and the brushes say who
    // is who), and dashing a thousand lines cost about a third of the page's render: those draw solid and thinner.
    const many = (grouped && payload.seeds ? payload.seeds.groups.length : payload.runs.length) > COLOURS.length * DASHES.length;
    const line = (label, i, show) => ({
      label,
      stroke: colour(i),
      dash: many ? [] : dash(i),
      width: many ? 1 : 1.5,
      spanGaps: true,
      show,
      points: { fill: background },
    });
    let series;
    let seriesRuns;
    let bands = [];
    let rows = data;
    if (grouped && payload.seeds) {
      // A seed group is its mean, in a band of ± one standard deviation over its runs at each step.
      series = [];
      seriesRuns = [];
      rows = [data[0]];
      payload.seeds.groups.forEach((g, k) => {
        const mean = [];
        const upper = [];
        const lower = [];
        for (let x = 0; x < data[0].length; x++) {
          let n = 0;
          let sum = 0;
          let squares = 0;
          for (const i of g.runs) {
            const v = data[i + 1][x];
            if (v === null) continue;
            n++;
            sum += v;
            squares += v * v;
          }
          const m = n ? sum / n : null;
          const sd = n > 1 ? Math.sqrt(Math.max(0, (squares - n * m * m) / (n - 1))) : 0;
          mean.push(m);
          upper.push(m === null ? null : m + sd);
          lower.push(m === null ? null : m - sd);
        }
        const show = g.runs.some((i) => shown[i] !== false);
        const at = rows.length;
        rows.push(mean, upper, lower);
        series.push(
          line(g.label, k, show),
          { label: `${g.label} +σ`, stroke: 'transparent', show, spanGaps: true, points: { show: false } },
          { label: `${g.label} −σ`, stroke: 'transparent', show, spanGaps: true, points: { show: false } },
        );
        seriesRuns.push(g.runs, g.runs, g.runs);
        bands.push({ series: [at + 1, at + 2], fill: withAlpha(colour(k), 0.18) });
      });
    } else {
      series = payload.runs.map((r, i) => line(r.label, i, shown[i] !== false));
      seriesRuns = payload.runs.map((_, i) => [i]);
    }
    const opts = {
      width: plotWidth,
      height: 280,
      scales: { x: { time: false } },
      // Steps count: ticks on whole numbers only.
      axes: [{ ...axis, label: strings.step, incrs: STEP_INCREMENTS }, axis],
      // A legend of hundreds of runs is longer than the chart and costs a DOM row each: the table says who is who.
      legend: { show: series.length <= 40 },
      series: [{ label: strings.step }, ...series],
      bands,
    };
    const plot = new uPlot(opts, rows, target);
    plot.seriesRuns = seriesRuns;
    return plot;
  }

  /** A theme colour made see-through for a band (the canvas spells any opaque CSS colour as #rrggbb). */
  const scratch = document.createElement('canvas').getContext('2d');
  function withAlpha(colourText, alpha) {
    const [r, g, b] = rgb(scratch, '--none', colourText);
    return `rgba(${r},${g},${b},${alpha})`;
  }

  // Width follows the panel; colours follow the theme (VS Code swaps the body's class on a theme change).
  let resizeFrame = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => {
      const area = document.getElementById('charts');
      if (area) for (const p of plots.values()) p.setSize({ width: Math.max(300, area.clientWidth - 8), height: 280 });
      if (payload) {
        drawParallel();
        drawScatter();
      }
    });
  }).observe(document.body);
  new MutationObserver(() => payload && render()).observe(document.body, { attributes: true, attributeFilter: ['class'] });

  vscode.postMessage({ type: 'ready', chosen });
})();
