import { beforeAll, describe, expect, it } from 'vitest';
import { augmentationExamples, CompositionError, CORE_VERSION, corePlugin, listModels, Registry, setBackend, tf, type TesseraPlugin } from '../src/index.js';
import pkg from '../package.json' with { type: 'json' };

const plugin = (over: Partial<TesseraPlugin> = {}): TesseraPlugin => ({
  name: 'tessera-plugin-example',
  version: '1.0.0',
  coreRange: `^${CORE_VERSION}`,
  models: { example_model: corePlugin.models!.deit_tiny_patch16_224! },
  ...over,
});

beforeAll(async () => {
  await setBackend('wasm');
});

describe('registry', () => {
  it('CORE_VERSION is the package version plugins are checked against', () => {
    expect(CORE_VERSION).toBe(pkg.version);
  });

  it('lists models like timm, with glob filters', () => {
    expect(listModels('deit_*')).toEqual(['deit_base_patch16_224', 'deit_small_patch16_224', 'deit_tiny_patch16_224']);
    expect(listModels('*tiny*')).toEqual(['deit_tiny_patch16_224']);
  });

  it('registers a compatible plugin once, and accepts the same plugin value again', () => {
    const r = new Registry().use(corePlugin);
    const p = plugin();
    r.use(p).use(p);
    expect(r.listModels('example_*')).toEqual(['example_model']);
    expect(r.listPlugins().map((x) => x.name)).toEqual(['@tessera/core', 'tessera-plugin-example']);
  });

  it('refuses a plugin built for another core version, saying which', () => {
    const r = new Registry('0.1.0');
    expect(() => r.use(plugin({ coreRange: '^1.0.0' }))).toThrow(
      "plugin 'tessera-plugin-example@1.0.0' supports @tessera/core ^1.0.0, but this is @tessera/core 0.1.0",
    );
    expect(r.listPlugins()).toEqual([]);
  });

  it('refuses invalid versions and ranges', () => {
    expect(() => new Registry().use(plugin({ version: 'one' }))).toThrow(/version = "one" is not accepted: expected a semver version/);
    expect(() => new Registry().use(plugin({ coreRange: 'whatever' }))).toThrow(/coreRange = "whatever" is not accepted/);
  });

  it('refuses a plugin whose definitions lack what this core calls, naming each, registering nothing', () => {
    const r = new Registry().use(corePlugin);
    const oldStyleModel = { description: 'built with create(), as before specs', create: () => undefined };
    const blockWithoutSupports = { ...corePlugin.blocks!.transformer!, supports: undefined };
    expect(() => r.use(plugin({ models: { old_model: oldStyleModel as never }, blocks: { half_block: blockWithoutSupports as never }, augmentations: { nothing: null as never } }))).toThrow(
      "plugin 'tessera-plugin-example' cannot be registered: block 'half_block' has no supports; model 'old_model' has no spec(); augmentation 'nothing' is null, not a definition object",
    );
    expect(r.listPlugins().map((x) => x.name)).toEqual(['@tessera/core']);
  });

  it("refuses an augmentation whose examples are not option objects its own options accept, naming plugin, augmentation, index and the schema's message, registering nothing", () => {
    const r = new Registry().use(corePlugin);
    const mixup = corePlugin.augmentations!.mixup!;
    const refused = (examples: unknown) => () => r.use(plugin({ models: {}, augmentations: { my_mix: { ...mixup, examples: examples as never } } }));
    expect(refused({ prob: 1 })).toThrow("plugin 'tessera-plugin-example' cannot be registered: augmentation 'my_mix' examples is object, not an array of option objects (leave it out to mean [{}])");
    expect(refused([{}, 'prob=1'])).toThrow("plugin 'tessera-plugin-example' cannot be registered: augmentation 'my_mix' examples[1] is string, not an options object");
    expect(refused([{}, null])).toThrow(/augmentation 'my_mix' examples\[1\] is null, not an options object/);
    expect(refused([{}, {}, { prob: 2 }])).toThrow(
      /^plugin 'tessera-plugin-example' cannot be registered: augmentation 'my_mix' examples\[2\] \{"prob":2\} is refused by its own options: prob: Too big: expected number to be <=1$/,
    );
    // A refinement of the schema (mixup needs one positive alpha) is the schema's message too; an unknown key, the strict object's.
    expect(refused([{ mixupAlpha: 0 }])).toThrow(/examples\[0\] \{"mixupAlpha":0\} is refused by its own options: mixupAlpha: at least one of mixupAlpha and cutmixAlpha must be > 0/);
    expect(refused([{ alpha: 1 }])).toThrow(/examples\[0\] \{"alpha":1\} is refused by its own options: \(options\): Unrecognized key: "alpha"/);
    expect(r.listPlugins().map((x) => x.name)).toEqual(['@tessera/core']);
    expect(r.listAugmentations().map((a) => a.name)).toEqual(['cutmix', 'mixup']);
    // Leaving examples out is allowed (plugins written before they existed): the defaults alone are tried.
    const { examples: _none, ...withoutExamples } = mixup;
    r.use(plugin({ models: {}, augmentations: { my_mix: withoutExamples } }));
    expect(augmentationExamples(r.getAugmentation('my_mix').definition)).toEqual([{}]);
    expect(augmentationExamples(mixup)).toBe(mixup.examples);
  });

  it('refuses name collisions and a second plugin of the same name, registering nothing', () => {
    const r = new Registry().use(corePlugin);
    expect(() => r.use(plugin({ name: 'other', blocks: { transformer: corePlugin.blocks!.transformer! } }))).toThrow(
      /plugin 'other' cannot be registered: name collision on block 'transformer' \(already contributed by '@tessera\/core'\)/,
    );
    expect(r.listModels('example_*')).toEqual([]);
    r.use(plugin());
    expect(() => r.use(plugin({ version: '2.0.0' }))).toThrow(/plugin 'tessera-plugin-example' is already registered \(version 1\.0\.0\)/);
  });

  it('suggests the closest name for an unknown model', () => {
    const r = new Registry().use(corePlugin);
    expect(() => r.createModel('deit_tiny_patch16')).toThrow(/unknown model 'deit_tiny_patch16'\. Did you mean 'deit_tiny_patch16_224'/);
    expect(() => r.createModel('deit_tiny')).toThrow(/unknown model 'deit_tiny'\. Did you mean 'deit_tiny_patch16_224'\?/);
    expect(() => r.createModel('deit')).toThrow(/Did you mean 'deit_base_patch16_224' or 'deit_tiny_patch16_224' or 'deit_small_patch16_224'\?/);
    expect(() => r.createModel('resnet50')).toThrow(/unknown model 'resnet50'\. Registered plugins/);
    expect(() => r.getBlock('transfromer')).toThrow(CompositionError);
    expect(() => r.getBlock('transfromer')).toThrow(/Did you mean 'transformer'/);
  });

  it('suggestions ignore case', () => {
    const r = new Registry().use(corePlugin);
    expect(() => r.createModel('DeiT_Tiny_Patch16_224')).toThrow(/Did you mean 'deit_tiny_patch16_224'/);
    expect(() => r.getBlock('Transfromer')).toThrow(/Did you mean 'transformer'/);
    expect(() => r.createModel('DEIT_TINY')).toThrow(/Did you mean 'deit_tiny_patch16_224'\?/);
  });

  it('validates named-model options before building anything', () => {
    const r = new Registry().use(corePlugin);
    const before = tf.memory().numTensors;
    expect(() => r.createModel('deit_tiny_patch16_224', { numClasses: 0 })).toThrow(/deit_tiny_patch16_224 option numClasses = 0 is not accepted/);
    expect(() => r.createModel('deit_tiny_patch16_224', { imgSize: 8, patchSize: 16 })).toThrow(/imgSize = \[8, 8\] is not accepted: expected at least one 16x16 patch/);
    expect(() => r.createModel('deit_tiny_patch16_224', { numClass: 10 })).toThrow(/option \(options\) = .* is not accepted: .*numClass/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
