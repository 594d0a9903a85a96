import { join } from 'node:path';
import { writeFileAtomic } from '@tessera/core/node';
import type { TrainConfig } from '../config.js';
import type { MetricsLine, TrainResult } from '../train/trainer.js';
import { lineChartSvg, type Series } from './charts.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function table(rows: ReadonlyArray<readonly [string, unknown]>): string {
  const cell = (v: unknown) => escapeHtml(typeof v === 'string' ? v : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(6)) : JSON.stringify(v));
  return `<table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${cell(v)}</td></tr>`).join('')}</table>`;
}

/** Averages train losses per `bucket` steps, so long runs draw a readable curve. */
function smooth(points: Array<[number, number]>, maxPoints = 400): Array<[number, number]> {
  if (points.length <= maxPoints) return points;
  const bucket = Math.ceil(points.length / maxPoints);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < points.length; i += bucket) {
    const slice = points.slice(i, i + bucket);
    out.push([slice[slice.length - 1]![0], slice.reduce((s, p) => s + p[1], 0) / slice.length]);
  }
  return out;
}

export interface ReportInput {
  readonly config: TrainConfig;
  readonly result: TrainResult;
  readonly environment: { backend: string; matmul?: string; node: string; platform: string; packages: Record<string, string> };
  readonly metrics: readonly MetricsLine[];
}

/** Builds report.html: a self-contained page (inline SVG and CSS, no external URL) with curves, config, versions and final metrics. */
export async function renderReport(input: ReportInput): Promise<string> {
  const trainLines = input.metrics.filter((m): m is Extract<MetricsLine, { type: 'train' }> => m.type === 'train');
  const evalLines = input.metrics.filter((m): m is Extract<MetricsLine, { type: 'eval' }> => m.type === 'eval');
  const lossSeries: Series[] = [{ name: 'train loss', points: smooth(trainLines.map((m) => [m.step, m.loss])) }];
  if (evalLines.length) lossSeries.push({ name: 'val loss', points: evalLines.map((m) => [m.step, m.loss]) });
  const accSeries: Series[] = [
    { name: 'val top-1', points: evalLines.map((m) => [m.step, m.top1 * 100]) },
    { name: 'val top-5', points: evalLines.map((m) => [m.step, m.top5 * 100]) },
  ];
  if (evalLines.some((m) => m.emaTop1 !== undefined)) accSeries.push({ name: 'EMA top-1', points: evalLines.map((m) => [m.step, (m.emaTop1 ?? Number.NaN) * 100]) });
  const perPatchSize = input.result.patchSizes ?? [];
  const patchCharts = perPatchSize.length
    ? [
        await lineChartSvg({
          title: 'Accuracy against patch size (FlexiViT Figure 1)',
          xTitle: 'patch size (px)',
          yTitle: '%',
          series: [
            { name: 'val top-1', points: perPatchSize.map((m) => [m.patchSize, m.top1 * 100]) },
            { name: 'val top-5', points: perPatchSize.map((m) => [m.patchSize, m.top5 * 100]) },
          ],
          yDomain: [0, 100],
        }),
        await lineChartSvg({ title: 'Evaluation speed against patch size', xTitle: 'patch size (px)', yTitle: 'images/s', series: [{ name: 'images/s', points: perPatchSize.map((m) => [m.patchSize, m.imagesPerSecond]) }] }),
      ]
    : [];
  const charts = trainLines.length
    ? [
        await lineChartSvg({ title: 'Loss', xTitle: 'optimizer step', yTitle: 'cross-entropy', series: lossSeries }),
        await lineChartSvg({ title: 'Validation accuracy', xTitle: 'optimizer step', yTitle: '%', series: accSeries, yDomain: [0, 100] }),
        await lineChartSvg({ title: 'Learning rate', xTitle: 'optimizer step', yTitle: 'lr', series: [{ name: 'lr', points: smooth(trainLines.map((m) => [m.step, m.lr])) }] }),
      ]
    : [];
  const r = input.result;
  const final: Array<[string, unknown]> = [
    ['top-1', `${(r.top1 * 100).toFixed(2)} %`],
    ['top-5', `${(r.top5 * 100).toFixed(2)} %`],
    ['validation loss', r.loss],
    ['last training loss', r.trainLoss],
    ...(r.emaTop1 !== undefined ? ([['EMA top-1', `${(r.emaTop1 * 100).toFixed(2)} %`]] as Array<[string, unknown]>) : []),
    ['training images/s', r.imagesPerSecond],
    ['evaluation images/s', r.evalImagesPerSecond],
    ['steps', r.steps],
    ['epochs', r.epochs],
    ['parameters', r.params],
    ['wall time (s)', r.seconds],
  ];
  const configRows = Object.entries(input.config).map(([k, v]) => [k, k === 'model' ? (v as { name: string }).name : v] as [string, unknown]);
  const modelSpec = input.config.model.spec ? `<h3>Model spec</h3><pre>${escapeHtml(JSON.stringify(input.config.model.spec, null, 2))}</pre>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>tessera run: ${escapeHtml(r.model)}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } th, td { text-align: left; padding: 2px 12px 2px 0; vertical-align: top; } th { font-weight: 600; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; } .charts svg { display: block; margin: 1em 0; }
</style>
</head>
<body>
<h1>${escapeHtml(r.model)}: ${(r.top1 * 100).toFixed(2)} % top-1</h1>
<p>Run folder <code>${escapeHtml(r.runDir)}</code>, data <code>${escapeHtml(input.config.data)}</code>, backend <code>${escapeHtml(input.environment.backend)}</code>.</p>
<h2>Final metrics</h2>
${table(final)}
<h2>Curves</h2>
<div class="charts">${charts.join('\n')}</div>
${perPatchSize.length ? `<h2>Patch sizes</h2>\n<div class="charts">${patchCharts.join('\n')}</div>\n<table><tr><th>patch</th><th>tokens</th><th>top-1</th><th>top-5</th><th>images/s</th></tr>${perPatchSize.map((m) => `<tr><td>${m.patchSize}</td><td>${m.tokens}</td><td>${(m.top1 * 100).toFixed(2)} %</td><td>${(m.top5 * 100).toFixed(2)} %</td><td>${m.imagesPerSecond.toFixed(1)}</td></tr>`).join('')}</table>` : ''}
<h2>Configuration</h2>
${table(configRows)}
${modelSpec}
<h2>Environment</h2>
${table([['backend', input.environment.backend], ...(input.environment.matmul ? [['matmul', input.environment.matmul] as const] : []), ['node', input.environment.node], ['platform', input.environment.platform], ...Object.entries(input.environment.packages)])}
<h2>Plugins loaded</h2>
<ul>${(r.plugins ?? []).map((p) => `<li><code>${escapeHtml(p)}</code></li>`).join('')}</ul>
</body>
</html>
`;
}

export async function writeReport(runDir: string, input: ReportInput): Promise<string> {
  const path = join(runDir, 'report.html');
  await writeFileAtomic(path, await renderReport(input));
  return path;
}
