import { beforeAll, describe, expect, it } from 'vitest';
import { createModelFromSpec, loadTorchStateDict, ModuleList, parseModelSpec, planModel, registry, Rng, setBackend, tf, use, type Block, type ModelOptions, type ModelSpecInput, type PlannedBlock } from '@tessera/core';
import { ChannelProcessing, FANBlock, fanCheckpointFilter, FanClassAttentionBlock, fanModels, fanPlugin, fanSwinSpec, fanViTSpec, SwinStage } from '../src/index.js';
import { expectRelativeClose, reference, toImage, toState } from './helpers.js';

/** A named model's spec, straight from its definition. */
const modelSpec = (name: string, options: ModelOptions = {}) => fanModels[name]!.spec!(options);
const createModel = (name: string, options: ModelOptions = {}) => createModelFromSpec(modelSpec(name, options));

beforeAll(async () => {
  await setBackend('wasm');
  use(fanPlugin);
});

/**
 * A model's parameter count without building it whole: every planned block is built
 * once per distinct (block, input, options), counted and freed. A block that stacks
 * `depth` identical blocks itself (fan_swin_stage, convnext_stage) is built at depth 1
 * and 2 and extended linearly, so the largest allocation stays one small block, never
 * the 209M-parameter FAN-Swin-L. Checked against whole built models below.
 */
function countParameters(spec: ModelSpecInput): number {
  const seen = new Map<string, number>();
  const build = (p: PlannedBlock, options: unknown) => {
    const key = JSON.stringify([p.block, p.input, options]);
    let n = seen.get(key);
    if (n === undefined) {
      const block = p.definition.create(p.input, options, new Rng(0));
      n = block.numParameters();
      block.dispose();
      seen.set(key, n);
    }
    return n;
  };
  let total = 0;
  for (const p of planModel(parseModelSpec(spec), registry)) {
    const o = p.options as { depth?: number; dropPath?: unknown };
    if (typeof o.depth === 'number' && o.depth > 2) {
      const at = (depth: number) => build(p, { ...o, depth, dropPath: 0 });
      total += at(1) + (o.depth - 1) * (at(2) - at(1));
    } else {
      total += build(p, p.options);
    }
  }
  return total;
}

describe('named models', () => {
  const official: Record<string, number> = reference.parameterCounts;

  it('are every model the official repository registers', () => {
    expect(Object.keys(fanModels).sort()).toEqual(Object.keys(official).sort());
  });

  for (const name of Object.keys(fanModels)) {
    it(`${name} has the official parameter count`, () => {
      const before = tf.memory().numTensors;
      expect(countParameters(modelSpec(name))).toBe(official[name]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('the block-by-block count equals the built model’s (fan_tiny_12_p16_224, fan_tiny_8_p4_hybrid, fan_swin_tiny_patch4_window7_224)', () => {
    for (const name of ['fan_tiny_12_p16_224', 'fan_tiny_8_p4_hybrid', 'fan_swin_tiny_patch4_window7_224']) {
      const model = createModel(name);
      expect(model.numParameters()).toBe(official[name]);
      model.dispose();
    }
  });

  it('use the official state-dict names', () => {
    const model = createModel('fan_tiny_12_p16_224', { imgSize: 32, numClasses: 3 });
    const keys = Object.keys(model.stateDict());
    for (const key of [
      'patch_embed.proj.0.0.weight',
      'patch_embed.proj.0.1.running_var',
      'patch_embed.proj.6.1.bias',
      'pos_embed.token_projection.weight',
      'blocks.11.gamma1',
      'blocks.0.attn.kv.weight',
      'blocks.0.mlp.temperature',
      'blocks.0.mlp.mlp_v.dwconv.bn.running_mean',
      'blocks.0.mlp.norm_v.weight',
      'cls_token',
      'cls_attn_blocks.1.attn.q.weight',
      'cls_attn_blocks.1.mlp.fc2.bias',
      'norm.weight',
      'head.bias',
    ]) {
      expect(keys).toContain(key);
    }
    model.dispose();
  });

  it('spread a constant drop-path rate over the FAN blocks and none over the class-attention blocks', () => {
    const spec = modelSpec('fan_tiny_12_p16_224', { dropPathRate: 0.1, imgSize: 32 });
    expect(spec.dropPathSchedule).toBe('constant');
    const model = createModelFromSpec(spec);
    const list = (name: string) => [...(model.stage(name) as ModuleList<Block>)];
    const fanBlocks = list('blocks') as FANBlock[];
    const heads = list('cls_attn_blocks') as FanClassAttentionBlock[];
    expect(fanBlocks[0]).toBeInstanceOf(FANBlock);
    expect(heads[0]).toBeInstanceOf(FanClassAttentionBlock);
    expect(fanBlocks.map((b) => b.dropPath.rate)).toEqual(new Array(12).fill(0.1));
    expect(heads.map((b) => b.dropPath.rate)).toEqual([0, 0]);
    model.dispose();
  });

  it('scale the head at init by head_init_scale: 1e-3 for FAN-L-Hybrid only (fan.py configs)', () => {
    const scales = Object.fromEntries(Object.keys(fanModels).map((name) => [name, (modelSpec(name).head.options as { initScale?: number }).initScale ?? 1]));
    expect(Object.entries(scales).filter(([, s]) => s !== 1)).toEqual([['fan_large_16_p4_hybrid', 1e-3]]);
    const spec = fanViTSpec('tiny_hybrid_head', { embedDim: 16, depth: 1, numHeads: 2, convnextDepths: [1, 1], convnextDims: [8, 16], headInitScale: 1e-3 }, { imgSize: 32, numClasses: 3 });
    const [scaled, plain] = [createModelFromSpec(spec), createModelFromSpec({ ...spec, head: { ...spec.head, options: { ...spec.head.options, initScale: 1 } } })];
    const head = (m: typeof scaled) => m.stateDict()['head.weight']!.dataSync();
    const [a, b] = [head(scaled), head(plain)];
    Array.from(a).forEach((v, i) => expect(Math.abs(v - b[i]! * 1e-3)).toBeLessThanOrEqual(1e-9));
    scaled.dispose();
    plain.dispose();
  });

  it('use LayerNorm eps 1e-6 in FAN-ViT except ChannelProcessing’s value norm (1e-5), and 1e-5 throughout FAN-Swin', () => {
    const vit = createModel('fan_tiny_12_p16_224', { imgSize: 32, numClasses: 3 });
    const block = (vit.stage('blocks') as ModuleList<Block>).at(0) as FANBlock;
    expect([block.norm1.eps, block.norm2.eps, (block.mlp as ChannelProcessing).normV.eps]).toEqual([1e-6, 1e-6, 1e-5]);
    vit.dispose();
    const swin = createModelFromSpec(fanSwinSpec('tiny_swin', { embedDim: 8, depths: [2, 1], numHeads: [2, 2], windowSize: 2, patchSize: 4 }, { imgSize: 16, numClasses: 3 }));
    expect(swin.stage('layers.0')).toBeInstanceOf(SwinStage);
    const stage = swin.stage('layers.0') as SwinStage;
    const swinBlock = stage.blocks.at(0);
    expect([swinBlock.norm1.eps, swinBlock.norm2.eps, (swinBlock.mlp as ChannelProcessing).normV.eps]).toEqual([1e-5, 1e-5, 1e-5]);
    swin.dispose();
  });
});

describe('small whole models against the official code (float64, random weights, BatchNorm in eval mode)', () => {
  // Logits within 1e-4 of the largest logit, relative (float32 through a dozen layers).
  const TOL = 1e-4;
  const cases: Array<[string, string, () => ModelSpecInput]> = [
    ['FAN-ViT', 'model_vit', () => fanViTSpec('vit', { embedDim: 32, depth: 2, numHeads: 4, patchSize: 8 }, { imgSize: 32, numClasses: 5 })],
    ['FAN-Hybrid', 'model_hybrid', () => fanViTSpec('hybrid', { embedDim: 32, depth: 2, numHeads: 4, convnextDepths: [1, 1], convnextDims: [8, 16] }, { imgSize: 64, numClasses: 5 })],
    ['FAN-Swin', 'model_swin', () => fanSwinSpec('swin', { embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: 4, patchSize: 4, mlp: ['channel_processing', 'mlp'] }, { imgSize: 32, numClasses: 5 })],
  ];
  for (const [label, key, spec] of cases) {
    it(`${label}: official state dict loads by name and the logits match`, () => {
      const f = reference[key];
      const model = createModelFromSpec(spec());
      expect(model.numParameters()).toBe(f.numParameters);
      const state = toState(f.state);
      const filtered = fanCheckpointFilter(state);
      expect(loadTorchStateDict(model, filtered)).toEqual({ missingKeys: [], unexpectedKeys: [] });
      const images = toImage(f.images);
      const before = tf.memory().numTensors;
      const logits = model.predict(images);
      const error = expectRelativeClose(logits, f.logits, TOL, label);
      console.log(`${label} logits: max relative error ${error.toExponential(2)} against the official code`);
      logits.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([images, ...new Set([...Object.values(state), ...Object.values(filtered)])]);
      model.dispose();
    });
  }
});
