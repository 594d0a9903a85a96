import { registry, type VisionModel } from '@tessera/core';
import { countMacs } from './macs.js';

export interface ModelInfo {
  readonly name: string;
  readonly plugin?: string;
  readonly description?: string;
  /** Parameter count as PyTorch counts model.parameters(). */
  readonly params: number;
  /** Multiply-accumulates of one forward pass at batch 1. */
  readonly macs: number;
  readonly macsByKernel: Record<string, number>;
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly stages: Array<{ name: string; layout: string; shape: number[]; description: string; params: number }>;
}

/** Parameters, MACs and the layout and shape after each stage of a built model. */
export async function describeModel(model: VisionModel): Promise<ModelInfo> {
  const stages = model.stages().map((s) => ({ name: s.name, layout: s.spec.layout, shape: s.shape, description: s.description, params: s.params }));
  const { macs, byKernel } = await countMacs(model);
  const registered = registry.listModels().includes(model.config.name) ? registry.getModel(model.config.name) : undefined;
  const [h, w, c] = model.config.inputSize;
  return {
    name: model.config.name,
    ...(registered ? { plugin: registered.plugin, description: registered.definition.description } : {}),
    params: model.numParameters(),
    macs,
    macsByKernel: byKernel,
    inputShape: [1, h, w, c],
    outputShape: [1, model.config.numClasses],
    stages,
  };
}

const human = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));

/** The human-readable summary `tessera info` prints. */
export function formatModelInfo(info: ModelInfo): string {
  const nameWidth = Math.max(5, ...info.stages.map((s) => s.name.length));
  const shapeText = (shape: number[]) => `[${shape.map((d) => (d < 0 ? 'B' : String(d))).join(', ')}]`;
  const shapeWidth = Math.max(5, ...info.stages.map((s) => shapeText(s.shape).length));
  const lines = [
    `${info.name}${info.plugin ? ` (${info.plugin})` : ''}${info.description ? `: ${info.description}` : ''}`,
    `parameters  ${info.params.toLocaleString('en-US')} (${human(info.params)})`,
    `MACs        ${info.macs.toLocaleString('en-US')} (${human(info.macs)}) per image`,
    `input       ${shapeText(info.inputShape)}   output ${shapeText(info.outputShape)}`,
    '',
    `${'stage'.padEnd(nameWidth)}  ${'shape'.padEnd(shapeWidth)}  ${'params'.padStart(10)}  layout`,
    ...info.stages.map((s) => `${s.name.padEnd(nameWidth)}  ${shapeText(s.shape).padEnd(shapeWidth)}  ${s.params.toLocaleString('en-US').padStart(10)}  ${s.description}`),
  ];
  return lines.join('\n');
}
