import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, createModelFromSpec, loadTorchStateDict, setBackend, tf, use, type ModelSpecInput, type VisionModel } from '@tessera/core';
import { flexiCheckpointFilter, flexiModels, flexivitPlugin } from '../src/index.js';
import { fixtureTensor, maxAbsDiff, reference } from './helpers.js';

beforeAll(async () => {
  await setBackend('cpu');
  use(flexivitPlugin);
});

const { config } = reference;

/** The fixture's configuration as a flexivit_small with timm's smaller kwargs (test/fixtures/make_fixtures.py). */
function fixtureModel(patchSize: number): VisionModel {
  const spec = flexiModels.flexivit_small!.spec!({ imgSize: config.img_size, patchSize, numClasses: config.num_classes });
  return createModelFromSpec(withSizes(spec, config.embed_dim, config.depth, config.num_heads));
}

/** The same spec with another width, depth and head count (timm's kwargs embed_dim, depth, num_heads). */
function withSizes(spec: ModelSpecInput, embedDim: number, depth: number, numHeads: number): ModelSpecInput {
  const stages = spec.stages!;
  const blocks = stages[1]!;
  return {
    ...spec,
    stem: { ...spec.stem, options: { ...spec.stem.options, embedDim } },
    stages: [stages[0]!, { ...blocks, depth, options: { ...blocks.options, numHeads } }],
  };
}

function loadReference(model: VisionModel): void {
  const state = Object.fromEntries(Object.entries(reference.state_dict).map(([k, v]) => [k, fixtureTensor(v)]));
  const filtered = flexiCheckpointFilter(state, model);
  loadTorchStateDict(model, filtered);
  tf.dispose([...Object.values(state), ...Object.values(filtered)]);
}

// Float32 forward of a 2-block model against float64 timm: logits of O(1-10), 2e-4 absolute.
const TOL = 2e-4;

describe('flexivit_* named models', () => {
  it("have timm's parameter counts at 240 px", () => {
    for (const [name, count] of [
      ['flexivit_small', 22_061_416],
      ['flexivit_base', 86_589_160],
    ] as const) {
      const model = createModel(name);
      expect(model.numParameters(), name).toBe(count);
      model.dispose();
    }
  });

  it("flexivit_large has timm's 304,355,304 parameters: its spec built with 1 and 2 blocks, the rest identical blocks", () => {
    // Building all 24 blocks takes minutes of initialisation on a loaded CPU; the blocks are identical, so
    // count = c(1) + 23·(c(2) − c(1)), every term from a real model of flexivit_large's spec.
    const spec = flexiModels.flexivit_large!.spec!({});
    expect(spec.stages![1]!.depth).toBe(24);
    const counts = [1, 2].map((depth) => {
      const model = createModelFromSpec(withSizes(spec, 1024, depth, 16));
      const n = model.numParameters();
      model.dispose();
      return n;
    });
    expect(counts[0]! + 23 * (counts[1]! - counts[0]!)).toBe(304_355_304);
  });

  it("use timm's state-dict names: patch_embed.proj, pos_embed on the grid, cls_token without a position", () => {
    const model = createModel('flexivit_small', { imgSize: 48, patchSize: 8, numClasses: 10 });
    const shapes = Object.fromEntries(model.namedParameters().map(([k, p]) => [k, p.variable.shape]));
    expect(shapes['patch_embed.proj.weight']).toEqual([8, 8, 3, 384]);
    expect(shapes.pos_embed).toEqual([1, 36, 384]);
    expect(shapes.cls_token).toEqual([1, 1, 384]);
    // The fixture was made by timm's flexivit_small factory (2 blocks): the same names outside and inside the blocks.
    const timmNames = Object.keys(reference.state_dict);
    expect(Object.keys(shapes).filter((k) => !/^blocks\.([2-9]|1\d)\./.test(k)).sort()).toEqual([...timmNames].sort());
    model.dispose();
  });

  it('the CIFAR-10 example specs of the README build, both with 148,106 parameters', () => {
    for (const file of ['flexivit-c10.json', 'vit-fixed8-c10.json']) {
      const model = createModelFromSpec(JSON.parse(readFileSync(new URL(`../examples/${file}`, import.meta.url), 'utf8')));
      expect(model.numParameters(), file).toBe(148_106);
      model.dispose();
    }
  });

  it("the big_vision convention stores a 32x32 kernel and a 7x7 table", () => {
    const model = createModel('flexivit_small', { convention: 'big_vision', numClasses: 10 });
    const shapes = Object.fromEntries(model.namedParameters().map(([k, p]) => [k, p.variable.shape]));
    expect(shapes['patch_embed.proj.weight']).toEqual([32, 32, 3, 384]);
    expect(shapes.pos_embed).toEqual([1, 49, 384]);
    model.dispose();
  });

  it("give timm's FlexiViT logits at the native patch size (float64 timm, random weights)", () => {
    const model = fixtureModel(config.patch_size);
    loadReference(model);
    const images = fixtureTensor(reference.images) as tf.Tensor4D;
    const logits = model.predict(images);
    expect(maxAbsDiff(logits, reference.logits[String(config.patch_size)]!)).toBeLessThan(TOL);
    tf.dispose([logits, images]);
    model.dispose();
  });

  it('load a timm state dict by name at other patch sizes and match timm there (checkpoint filter)', () => {
    const images = fixtureTensor(reference.images) as tf.Tensor4D;
    for (const p of Object.keys(reference.resampled)) {
      const model = fixtureModel(Number(p));
      loadReference(model);
      const logits = model.predict(images);
      expect(maxAbsDiff(logits, reference.logits[p]!), `patch ${p}`).toBeLessThan(TOL);
      tf.dispose(logits);
      model.dispose();
    }
    images.dispose();
  });
});
