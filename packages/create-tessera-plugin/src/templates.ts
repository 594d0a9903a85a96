import type { PluginNames } from './names.js';

export interface TemplateVersions {
  /** The @tessera/core version the template was written against. */
  readonly core: string;
  readonly conformance: string;
}

/** The semver range a plugin built against `version` declares: the major line from 1.0.0, the minor line before. */
export function coreRangeFor(version: string): string {
  const [major, minor] = version.split('.');
  return major === '0' ? `^0.${minor}.0` : `^${major}.0.0`;
}

/** Every file of a new plugin, path → content. */
export function pluginFiles(names: PluginNames, versions: TemplateVersions): Record<string, string> {
  const { packageName, prefix, identifier } = names;
  const range = coreRangeFor(versions.core);
  const block = `${prefix}_token_mlp`;
  const model = `${prefix}_tiny`;
  const augmentation = `${prefix}_flip`;
  return {
    'package.json': `${JSON.stringify(
      {
        name: packageName,
        version: '0.1.0',
        description: `A Tessera plugin: the ${block} block, the ${model} model and the ${augmentation} augmentation`,
        type: 'module',
        license: 'Apache-2.0',
        // The harness finds plugins a project declares by this keyword (and by the @tessera/plugin-* prefix).
        keywords: ['tessera-plugin', 'tessera', 'tensorflowjs', 'vision-transformer'],
        engines: { node: '>=20.19' },
        exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json' },
        main: './dist/index.js',
        types: './dist/index.d.ts',
        files: ['dist'],
        sideEffects: false,
        scripts: {
          build: 'tsc -p tsconfig.build.json',
          test: 'vitest run',
          typecheck: 'tsc --noEmit -p tsconfig.json',
          changeset: 'changeset',
          'version-packages': 'changeset version',
          release: 'npm run build && changeset publish',
        },
        peerDependencies: { '@tessera/core': range },
        devDependencies: {
          '@changesets/cli': '^2.29.0',
          '@tessera/conformance': `^${versions.conformance}`,
          '@tessera/core': range,
          '@types/node': '^20.19.0',
          typescript: '^5.9.0',
          vitest: '^4.0.0',
        },
      },
      null,
      2,
    )}\n`,
    'src/index.ts': `export { ${identifier} } from './plugin.js';
export { ${identifier} as default } from './plugin.js';
export { TokenMlpBlock, tokenMlpBlock, tokenMlpOptions, type TokenMlpOptions } from './token-mlp.js';
export { Flip, flipDefinition, flipOptions } from './flip.js';
`,
    'src/plugin.ts': `import pkg from '../package.json' with { type: 'json' };
import type { TesseraPlugin } from '@tessera/core';
import { flipDefinition } from './flip.js';
import { models } from './models.js';
import { tokenMlpBlock } from './token-mlp.js';

/** Register with \`use(${identifier})\`, or let the tessera CLI find it (the \`tessera-plugin\` keyword). */
export const ${identifier}: TesseraPlugin = {
  name: pkg.name,
  version: pkg.version,
  // The same range as the @tessera/core peer dependency: use() refuses a core outside it.
  coreRange: '${range}',
  blocks: { ${block}: tokenMlpBlock },
  models,
  augmentations: { ${augmentation}: flipDefinition },
};
`,
    'src/token-mlp.ts': `import {
  Block,
  CompositionError,
  DropPath,
  LayerNorm,
  Mlp,
  tf,
  z,
  type BlockDefinition,
  type FeatureSpec,
  type Features,
  type ForwardContext,
  type Rng,
  type TokenSpec,
} from '@tessera/core';

export const tokenMlpOptions = z.strictObject({
  /** Hidden width of the MLP as a multiple of the token width. */
  mlpRatio: z.number().positive().default(2),
  /** Stochastic depth rate; the model's dropPathRate schedule fills it in (the block declares supports.dropPath). */
  dropPath: z.number().min(0).lt(1).default(0),
});
export type TokenMlpOptions = z.input<typeof tokenMlpOptions>;

/**
 * A pre-norm residual MLP over the channels of every token: x + DropPath(MLP(LN(x))).
 * Prefix tokens (a class token) pass through the same MLP, so the block may stand
 * before or after a class token and at any grid size.
 */
export class TokenMlpBlock extends Block {
  private readonly norm: LayerNorm;
  private readonly mlp: Mlp;
  private readonly dropPath: DropPath;

  constructor(input: TokenSpec, options: z.output<typeof tokenMlpOptions>, rng: Rng) {
    super(input, input);
    const dim = input.channels;
    // Registration order is the state-dict order: norm.*, mlp.fc1.*, mlp.fc2.*.
    this.norm = this.addModule('norm', new LayerNorm(dim, rng));
    this.mlp = this.addModule('mlp', new Mlp(dim, Math.max(1, Math.round(dim * options.mlpRatio)), rng));
    this.dropPath = new DropPath(options.dropPath);
  }

  forward(x: Features, ctx: ForwardContext): Features {
    if (x.layout !== 'tokens') throw new CompositionError(\`${block} takes tokens, not \${x.layout}\`);
    const tensor = tf.tidy(() => tf.add(x.tensor, this.dropPath.forward(this.mlp.forward(this.norm.forward(x.tensor), ctx), ctx)) as tf.Tensor3D);
    return { ...x, tensor };
  }
}

export const tokenMlpBlock: BlockDefinition<z.output<typeof tokenMlpOptions>> = {
  description: 'Pre-norm residual MLP over the channels of every token (tokens → tokens)',
  supports: { positions: ['stage'], dropPath: true, attention: false, dynamicGrid: true, overridable: [] },
  accepts: ['tokens'],
  options: tokenMlpOptions,
  // Small option sets that build fast: pluginSuite and tessera check build every example in every position.
  examples: [{}, { mlpRatio: 1, dropPath: 0.1 }],
  outputSpec(input: FeatureSpec): FeatureSpec {
    // Refuse here, before any tensor exists, everything create() cannot take.
    if (input.layout !== 'tokens') throw new CompositionError(\`${block} takes tokens, not \${input.layout}\`);
    return input;
  },
  create(input, options, rng) {
    return new TokenMlpBlock(this.outputSpec(input, options) as TokenSpec, options, rng);
  },
};
`,
    'src/flip.ts': `import { tf, z, type Augmentation, type AugmentationDefinition, type Batch, type Rng } from '@tessera/core';

export const flipOptions = z.strictObject({
  /** Probability that an image is mirrored left to right. */
  prob: z.number().min(0).max(1).default(0.5),
});

/**
 * Mirrors each image left to right with probability \`prob\`. Which images flip is
 * drawn in \`sample\` from the seeded Rng, so a batch can be logged and replayed.
 * Labels are unchanged: the targets pass through as given.
 */
export class Flip implements Augmentation<boolean[]> {
  readonly name = '${augmentation}';
  readonly requiresOutputs = [] as const;

  constructor(readonly prob: number) {}

  /** A flip serves any image model: nothing to refuse. */
  checkModel(): void {}

  sample(batchSize: number, rng: Rng): boolean[] {
    return Array.from({ length: batchSize }, () => rng.uniform() < this.prob);
  }

  apply(batch: Batch, flips: boolean[]): Batch {
    const images = tf.tidy(() => {
      const mask = tf.tensor4d(flips.map((f) => (f ? 1 : 0)), [flips.length, 1, 1, 1]);
      const mirrored = tf.reverse(batch.images, 2);
      return tf.add(tf.mul(mirrored, mask), tf.mul(batch.images, tf.sub(1, mask))) as tf.Tensor4D;
    });
    return { images, targets: batch.targets };
  }
}

export const flipDefinition: AugmentationDefinition<z.output<typeof flipOptions>> = {
  description: 'Horizontal flip of each image with probability prob',
  options: flipOptions,
  // Option sets that exercise the options: pluginSuite and tessera check run the augmentation with each (left out: just {}).
  examples: [{}, { prob: 1 }, { prob: 0 }],
  create: (options) => new Flip(options.prob),
};
`,
    'src/models.ts': `import { resolveImgSize, type ModelDefinition } from '@tessera/core';

/** Named models are specs: core's one builder turns them into a model (see docs/architecture.md). */
export const models: Record<string, ModelDefinition> = {
  ${model}: {
    description: 'A tiny ViT whose second stage is ${block}: patch 4, width 32, one attention block, two MLP blocks',
    spec: (options) => ({
      name: '${model}',
      imgSize: resolveImgSize(options.imgSize, 32),
      numClasses: options.numClasses ?? 10,
      inChannels: options.inChannels ?? 3,
      dropPathRate: options.dropPathRate ?? 0,
      seed: options.seed ?? 0,
      stem: { block: 'patch_embed', name: 'patch_embed', options: { patchSize: 4, embedDim: 32 } },
      stages: [
        { block: 'class_token', name: '', options: {} },
        { block: 'transformer', name: 'attn_blocks', depth: 1, options: { numHeads: 2 } },
        { block: '${block}', name: 'blocks', depth: 2, options: {} },
      ],
      head: { block: 'classifier', name: '', options: { pool: 'token' } },
    }),
  },
};
`,
    'test/conformance.test.ts': `import { pluginSuite } from '@tessera/conformance';
import { describe, test } from 'vitest';
import { ${identifier} } from '../src/index.js';

// The Tessera plugin contract: plugin-level checks and every combination of this plugin's blocks with core's.
pluginSuite({ plugin: ${identifier}, test, describe });
`,
    'test/model.test.ts': `import { corePlugin, Registry, setBackend, tf } from '@tessera/core';
import { beforeAll, expect, test } from 'vitest';
import { ${identifier} } from '../src/index.js';

beforeAll(async () => {
  await setBackend('wasm');
});

test('${model} builds, names its parameters as the spec says and classifies a batch', () => {
  const registry = new Registry().use(corePlugin).use(${identifier});
  const model = registry.createModel('${model}', { numClasses: 5 });
  const keys = Object.keys(model.stateDict());
  expect(keys).toContain('blocks.1.mlp.fc2.weight');
  expect(keys).toContain('attn_blocks.0.attn.qkv.weight');
  const images = tf.zeros([2, 32, 32, 3]) as tf.Tensor4D;
  const logits = model.predict(images);
  expect(logits.shape).toEqual([2, 5]);
  tf.dispose([images, logits]);
  model.dispose();
});
`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM'],
          strict: true,
          declaration: true,
          esModuleInterop: true,
          skipLibCheck: true,
          resolveJsonModule: true,
          verbatimModuleSyntax: true,
          types: ['node'],
          noEmit: true,
        },
        include: ['src', 'test'],
      },
      null,
      2,
    )}\n`,
    'tsconfig.build.json': `${JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: false, outDir: 'dist', rootDir: '.' }, include: ['src'] }, null, 2)}\n`,
    'vitest.config.ts': `import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // tfjs keeps its backend in module state: one process per test file.
    pool: 'forks',
    testTimeout: 120_000,
  },
});
`,
    '.gitignore': 'node_modules\ndist\n',
    '.changeset/config.json': `${JSON.stringify({ $schema: 'https://unpkg.com/@changesets/config@3.1.1/schema.json', changelog: '@changesets/cli/changelog', commit: false, access: 'public', baseBranch: 'main', updateInternalDependencies: 'patch', ignore: [] }, null, 2)}\n`,
    '.changeset/README.md': `# Changesets

Every change users will notice gets a changeset: run \`npm run changeset\`, pick the bump (patch, minor, major) and
describe the change in a sentence or two. \`npm run version-packages\` turns them into a version and CHANGELOG.md;
\`npm run release\` builds and publishes.
`,
    'README.md': `# ${packageName}

A [Tessera](https://github.com/tessera-vit/tessera) plugin. It contributes:

| kind | name | what |
|---|---|---|
| block | \`${block}\` | pre-norm residual MLP over the channels of every token; stands in \`stages\` |
| model | \`${model}\` | a tiny ViT: patch 4, width 32, one attention block, two \`${block}\` blocks |
| augmentation | \`${augmentation}\` | horizontal flip of each image with probability \`prob\` |

## Use

\`\`\`sh
npm install ${packageName} @tessera/core
\`\`\`

\`\`\`ts
import { createModel, setBackend, use } from '@tessera/core';
import { ${identifier} } from '${packageName}';

await setBackend('auto');
use(${identifier});
const model = createModel('${model}', { numClasses: 10 });
\`\`\`

With the \`tessera\` CLI, declare the plugin in your project's package.json (it is found by its \`tessera-plugin\`
keyword) or pass it explicitly:

\`\`\`sh
tessera train --model ${model} --plugin ${packageName} --data synthetic --img-size 32 --augment ${augmentation}
tessera check --plugin ${packageName} --only ${packageName}
\`\`\`

## Develop

\`\`\`sh
npm install
npm test          # the unit test and the @tessera/conformance suite
npm run build
\`\`\`

\`test/conformance.test.ts\` runs \`pluginSuite\` from \`@tessera/conformance\`: the plugin-level checks (name, version,
core range, no collision with the official plugins) and every combination of \`${block}\`'s example options with core's
stems and heads, each checked for planned shapes, finite logits and gradients, batch independence, determinism, a
safetensors round trip, no tensor leaks, a loss that falls after one step, and \`${augmentation}\`'s targets and model
check. Keep it green: it is the contract users of Tessera rely on.

## Publish

\`\`\`sh
npm run changeset        # describe the change
npm run version-packages # bump the version, write CHANGELOG.md
npm run release          # build and npm publish
\`\`\`

Keep \`coreRange\` in \`src/plugin.ts\` and the \`@tessera/core\` peer dependency on the same range.
`,
  };
}
