import { parse, View, type Spec } from 'vega';

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
}

/**
 * A line chart as a standalone SVG string, rendered headless by Vega (no canvas,
 * no network): one coloured line per series, with axes and a legend.
 */
export async function lineChartSvg(options: { title: string; xTitle: string; yTitle: string; series: readonly Series[]; width?: number; height?: number; yDomain?: [number, number] }): Promise<string> {
  const values = options.series.flatMap((s) => s.points.filter(([, y]) => Number.isFinite(y)).map(([x, y]) => ({ series: s.name, x, y })));
  const spec: Spec = {
    width: options.width ?? 560,
    height: options.height ?? 260,
    padding: 8,
    title: { text: options.title, anchor: 'start' },
    data: [{ name: 'points', values }],
    scales: [
      { name: 'x', type: 'linear', domain: { data: 'points', field: 'x' }, range: 'width', zero: false, nice: true },
      {
        name: 'y',
        type: 'linear',
        ...(options.yDomain ? { domain: options.yDomain } : { domain: { data: 'points', field: 'y' }, zero: false }),
        range: 'height',
        nice: true,
      },
      { name: 'color', type: 'ordinal', domain: { data: 'points', field: 'series' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: options.xTitle, grid: true, gridOpacity: 0.3 },
      { orient: 'left', scale: 'y', title: options.yTitle, grid: true, gridOpacity: 0.3 },
    ],
    legends: [{ stroke: 'color', orient: 'top-right', symbolType: 'stroke' }],
    marks: [
      {
        type: 'group',
        from: { facet: { name: 'bySeries', data: 'points', groupby: 'series' } },
        marks: [
          {
            type: 'line',
            from: { data: 'bySeries' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                stroke: { scale: 'color', field: 'series' },
                strokeWidth: { value: 1.8 },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: 'bySeries' },
            encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, fill: { scale: 'color', field: 'series' }, size: { value: 16 } } },
          },
        ],
      },
    ],
  };
  const view = new View(parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
