import { PNG } from 'pngjs';
import { parse, View, type Spec } from 'vega';
import type { RobustnessResult } from './run.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (v: number | null | undefined, digits = 2) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(digits)} %`);

/** An 8-bit HWC image (1 or 3 channels) as a PNG data URI (pngjs). */
export function encodePng(pixels: Uint8Array, height: number, width: number, channels: 1 | 3): string {
  const png = new PNG({ width, height });
  for (let p = 0; p < height * width; p++) {
    png.data[4 * p] = pixels[p * channels]!;
    png.data[4 * p + 1] = pixels[p * channels + (channels === 3 ? 1 : 0)]!;
    png.data[4 * p + 2] = pixels[p * channels + (channels === 3 ? 2 : 0)]!;
    png.data[4 * p + 3] = 255;
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

/** Error → fill colour: white at 0, through yellow and orange, dark red at 1. */
function heatColour(error: number): string {
  const stops: Array<[number, [number, number, number]]> = [
    [0, [255, 255, 255]],
    [0.25, [255, 237, 160]],
    [0.5, [253, 141, 60]],
    [0.75, [227, 26, 28]],
    [1, [128, 0, 38]],
  ];
  const e = Math.min(1, Math.max(0, error));
  let k = 0;
  while (k < stops.length - 2 && e > stops[k + 1]![0]) k++;
  const [a, ca] = stops[k]!;
  const [b, cb] = stops[k + 1]!;
  const t = (e - a) / (b - a);
  const rgb = ca.map((v, i) => Math.round(v + t * (cb[i]! - v)));
  return `rgb(${rgb.join(',')})`;
}

/** The error heatmap: one row per corruption, one column per severity, the error printed in each cell. */
export function heatmapSvg(result: Pick<RobustnessResult, 'corruptions' | 'severities' | 'errors' | 'clean'>): string {
  const cell = { w: 64, h: 22 };
  const left = 140;
  const top = 26;
  const cols = [...result.severities];
  const width = left + cell.w * (cols.length + 1) + 10;
  const height = top + cell.h * result.corruptions.length + 10;
  const parts: string[] = [];
  parts.push(`<text x="${left + cell.w / 2}" y="18" text-anchor="middle" font-weight="600">clean</text>`);
  cols.forEach((s, j) => parts.push(`<text x="${left + cell.w * (j + 1) + cell.w / 2}" y="18" text-anchor="middle" font-weight="600">s${s}</text>`));
  result.corruptions.forEach((c, i) => {
    const y = top + i * cell.h;
    parts.push(`<text x="${left - 6}" y="${y + 15}" text-anchor="end">${escapeHtml(c)}</text>`);
    const values = [result.clean.error, ...cols.map((s) => result.errors[c]?.[s] ?? Number.NaN)];
    values.forEach((e, j) => {
      const x = left + j * cell.w;
      const fill = Number.isFinite(e) ? heatColour(e) : '#eee';
      const ink = e > 0.6 ? '#fff' : '#222';
      parts.push(`<rect x="${x}" y="${y}" width="${cell.w - 2}" height="${cell.h - 2}" fill="${fill}"><title>${escapeHtml(c)} ${j === 0 ? 'clean' : `severity ${cols[j - 1]}`}: error ${pct(e)}</title></rect>`);
      parts.push(`<text x="${x + cell.w / 2 - 1}" y="${y + 15}" text-anchor="middle" fill="${ink}">${Number.isFinite(e) ? (e * 100).toFixed(1) : '–'}</text>`);
    });
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="12">${parts.join('')}</svg>`;
}

/** Grouped horizontal bars (Vega, rendered headless to SVG), with an optional reference rule. */
async function barsSvg(options: { title: string; xTitle: string; rows: Array<{ group: string; series: string; value: number }>; rule?: number }): Promise<string> {
  const groups = [...new Set(options.rows.map((r) => r.group))];
  const spec: Spec = {
    width: 560,
    height: Math.max(120, groups.length * 26),
    padding: 8,
    title: { text: options.title, anchor: 'start' },
    data: [{ name: 'rows', values: options.rows.filter((r) => Number.isFinite(r.value)) }],
    scales: [
      { name: 'y', type: 'band', domain: groups, range: 'height', padding: 0.2 },
      { name: 'x', type: 'linear', domain: { data: 'rows', field: 'value' }, range: 'width', zero: true, nice: true, domainMax: options.rule },
      { name: 'color', type: 'ordinal', domain: { data: 'rows', field: 'series' }, range: ['#3b6fb6', '#b0b0b0'] },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: options.xTitle, grid: true, gridOpacity: 0.3 },
      { orient: 'left', scale: 'y' },
    ],
    legends: [{ fill: 'color', orient: 'top', direction: 'horizontal' }],
    marks: [
      {
        type: 'group',
        from: { facet: { name: 'byGroup', data: 'rows', groupby: 'group' } },
        encode: { enter: { y: { scale: 'y', field: 'group' }, height: { scale: 'y', band: 1 } } },
        signals: [{ name: 'bandHeight', update: "bandwidth('y')" }],
        scales: [{ name: 'inner', type: 'band', range: { signal: '[0, bandHeight]' }, domain: { data: 'byGroup', field: 'series' } }],
        marks: [
          {
            type: 'rect',
            from: { data: 'byGroup' },
            encode: {
              enter: {
                y: { scale: 'inner', field: 'series' },
                height: { scale: 'inner', band: 1 },
                x: { scale: 'x', value: 0 },
                x2: { scale: 'x', field: 'value' },
                fill: { scale: 'color', field: 'series' },
                tooltip: { signal: "datum.series + ': ' + format(datum.value, '.1f')" },
              },
            },
          },
        ],
      },
      ...(options.rule !== undefined
        ? [{ type: 'rule' as const, encode: { enter: { x: { scale: 'x', value: options.rule }, y: { value: 0 }, y2: { signal: 'height' }, stroke: { value: '#c00' }, strokeDash: { value: [4, 3] } } } }]
        : []),
    ],
  };
  const view = new View(parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function table(rows: ReadonlyArray<readonly [string, string]>): string {
  return `<table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
}

export interface ReportExtras {
  /** PNG data URIs per corruption and severity. */
  readonly examples: Record<string, Record<number, string>>;
  readonly original: string;
  readonly environment: { backend: string; node: string; platform: string; packages: Record<string, string> };
}

/** robustness.html: self-contained (inline SVG, PNG data URIs, CSS), in the style of the training report. */
export async function renderRobustnessReport(result: RobustnessResult, extras: ReportExtras): Promise<string> {
  const m = result.metrics;
  const norm = m.normalisation === 'alexnet' ? 'AlexNet (ImageNet-C constants)' : m.normalisation === 'baseline' && result.baseline && result.baseline !== 'alexnet' ? `baseline ${result.baseline.model}` : 'none (plain mean error, the CIFAR-10-C convention)';
  const summary: Array<[string, string]> = [
    ['clean top-1', pct(result.clean.top1)],
    [m.normalisation === 'none' ? 'mean corruption error (15 common)' : 'mCE', pct(m.mCE, 1)],
    ['relative mCE', pct(m.relativeMCE, 1)],
    ['mean corruption accuracy', pct(m.meanCorruptionAccuracy)],
    ['mean corruption accuracy, all evaluated', pct(m.meanCorruptionAccuracyAll)],
    ['retention (corruption / clean accuracy)', pct(m.retention, 1)],
    ['normalisation', norm],
    ['complete mCE (15 corruptions × 5 severities)', m.mceComplete ? 'yes' : 'no'],
  ];
  const ceRows = result.corruptions.filter((c) => m.ce[c] !== undefined).map((c) => ({ group: c, series: result.model, value: m.ce[c]! * 100 }));
  const charts: string[] = [];
  if (m.normalisation !== 'none') {
    charts.push(await barsSvg({ title: `Corruption error (CE) relative to ${m.normalisation === 'alexnet' ? 'AlexNet' : 'the baseline'} (dashed: baseline = 100)`, xTitle: 'CE (%)', rows: ceRows, rule: 100 }));
  }
  const errorRows = result.corruptions.flatMap((c) => {
    const own = result.severities.map((s) => result.errors[c]![s]!);
    const rows = [{ group: c, series: result.model, value: (own.reduce((a, b) => a + b, 0) / own.length) * 100 }];
    if (result.baseline && result.baseline !== 'alexnet') {
      const theirs = result.severities.map((s) => result.baseline !== 'alexnet' && result.baseline ? result.baseline.errors[c]?.[s] : undefined).filter((v): v is number => v !== undefined);
      if (theirs.length) rows.push({ group: c, series: `baseline ${result.baseline.model}`, value: (theirs.reduce((a, b) => a + b, 0) / theirs.length) * 100 });
    }
    return rows;
  });
  charts.push(await barsSvg({ title: 'Top-1 error per corruption, mean over severities', xTitle: 'error (%)', rows: errorRows }));
  const grid = `<table class="examples"><tr><th></th>${result.severities.map((s) => `<th>severity ${s}</th>`).join('')}</tr>${result.corruptions
    .map((c) => `<tr><th>${escapeHtml(c)}</th>${result.severities.map((s) => `<td><img src="${extras.examples[c]?.[s] ?? ''}" alt="${escapeHtml(c)} ${s}"></td>`).join('')}</tr>`)
    .join('')}</table>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tessera robustness: ${escapeHtml(result.model)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } th, td { text-align: left; padding: 2px 12px 2px 0; vertical-align: top; } th { font-weight: 600; }
.charts svg { display: block; margin: 1em 0; }
.examples img { width: 96px; height: 96px; image-rendering: pixelated; display: block; } .examples td { padding: 2px; }
</style>
</head>
<body>
<h1>${escapeHtml(result.model)}: ${m.normalisation === 'none' ? 'mean corruption error' : 'mCE'} ${pct(m.mCE, 1)}, retention ${pct(m.retention, 1)}</h1>
<p>${escapeHtml(result.source)}. ${result.images} test images of <code>${escapeHtml(result.data)}</code>${result.limit ? ` (a seeded subset, --limit ${result.limit})` : ''}, weights <code>${escapeHtml(result.weights)}</code>, backend <code>${escapeHtml(result.backend)}</code>${result.workers > 1 ? ` on ${result.workers} worker threads` : ''}.</p>
<h2>Summary</h2>
${table(summary)}
<h2>Error by corruption and severity (%)</h2>
${heatmapSvg(result)}
<h2>Per corruption</h2>
<div class="charts">${charts.join('\n')}</div>
<h2>What each corruption does</h2>
<p>The first evaluated image, corrupted exactly as the model saw it. Clean: <img src="${extras.original}" alt="clean" style="width:96px;height:96px;image-rendering:pixelated;vertical-align:middle"></p>
${grid}
<h2>Environment</h2>
${table([['backend', extras.environment.backend], ['node', extras.environment.node], ['platform', extras.environment.platform], ...Object.entries(extras.environment.packages)])}
</body>
</html>
`;
}
