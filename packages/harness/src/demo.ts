import { registry, use } from '@tessera/core';
import { TRAIN_DEFAULTS, type TrainConfig } from './config.js';
import { pluginsOf } from './plugins.js';

/** What the demo uses when installed, and what it falls back to without it. */
export const DEMO_PLUGINS: ReadonlyArray<{ readonly name: string; readonly role: string; readonly fallback: string }> = [
  { name: '@tessera/plugin-t2t', role: 'the T2T stem', fallback: "ViT's patch embedding" },
  { name: '@tessera/plugin-transmix', role: 'TransMix', fallback: 'Mixup/CutMix' },
];

/**
 * Registers the plugins the demo uses when they are installed beside the harness
 * (the harness depends on no plugin), and says, for each one missing, what the demo
 * does instead and how to install it. Returns the names it could not find.
 */
export async function loadDemoPlugins(warn: (line: string) => void, plugins = DEMO_PLUGINS): Promise<string[]> {
  const missing: string[] = [];
  for (const { name, role, fallback } of plugins) {
    if (registry.listPlugins().some((p) => p.name === name)) continue;
    try {
      for (const plugin of pluginsOf((await import(name)) as Record<string, unknown>)) use(plugin);
    } catch {
      missing.push(name);
      warn(`demo: ${name} is not installed, so the demo uses ${fallback} instead of ${role}; for the full demo: npm install ${name}`);
    }
  }
  return missing;
}

/** The accuracy the README states for `tessera demo` (validation top-1 on synthetic, measured on 2 CPU cores with wasm). */
export const DEMO_EXPECTED_TOP1 = 0.9;

/**
 * The demo's hybrid: a T2T stem (Yuan et al. 2021, soft split + token transformer)
 * when @tessera/plugin-t2t is installed, else ViT's patch embedding; then a class
 * token, four ViT blocks and a class-token head, so TransMix (Chen et al. 2022) can
 * read the last block's class attention.
 */
export function demoModelSpec(embedDim = 64): Record<string, unknown> {
  const t2t = registry.listBlocks().some((b) => b.name === 't2t');
  return {
    name: t2t ? 'demo_t2t_vit' : 'demo_vit',
    imgSize: 32,
    numClasses: 10,
    mean: [0.5, 0.5, 0.5],
    std: [0.25, 0.25, 0.25],
    // Two soft splits (3×3, stride 2) take 32 px to a 16×16 and then an 8×8 token grid, with a Token-performer
    // layer between them (T2T-ViT §3.1 scaled from 224 px to 32 px); ViT's fallback patch size gives the same grid.
    stem: t2t
      ? { block: 't2t', options: { embedDim, tokenDim: 32, dropRate: 0, softSplits: [1, 2].map(() => ({ kernelSize: 3, stride: 2, padding: 1 })) } }
      : { block: 'patch_embed', options: { patchSize: 4, embedDim } },
    stages: [
      { block: 'class_token' },
      { block: 'transformer', depth: 4, options: { numHeads: 4, mlpRatio: 2 } },
    ],
    head: { block: 'classifier', options: { numClasses: 10 } },
  };
}

/** Whether the TransMix plugin is installed (the demo falls back to Mixup/CutMix without it). */
export function demoAugment(): TrainConfig['augment'] {
  return registry.listAugmentations().some((a) => a.name === 'transmix') ? [{ name: 'transmix', options: { prob: 0.5 } }] : [{ name: 'mixup', options: { mixupAlpha: 0.8, cutmixAlpha: 1, prob: 0.5 } }];
}

/**
 * The demo recipe, tuned on the wasm backend: batch 32 for more updates per image in a
 * short schedule, and an 8×8 token grid (a 4×4 grid learned markedly slower on the
 * synthetic shapes: 66% against 91% after 300 steps).
 */
export function demoConfig(out: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  const spec = demoModelSpec();
  return {
    ...TRAIN_DEFAULTS,
    model: { name: String(spec.name), spec },
    plugins: [],
    data: 'synthetic',
    trainSize: 5000,
    testSize: 1000,
    imgSize: 32,
    epochs: 3,
    batchSize: 32,
    evalBatchSize: 250,
    lr: 1e-3,
    minLr: 1e-5,
    warmupEpochs: 0.3,
    weightDecay: 0.05,
    smoothing: 0.1,
    dropPath: 0,
    augment: demoAugment(),
    cropPadding: 0,
    flip: false,
    seed: 0,
    backend: 'wasm',
    out,
    ...overrides,
  };
}
