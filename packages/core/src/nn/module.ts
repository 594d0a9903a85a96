import { InvalidArgumentError, StateDictError } from '../errors.js';
import { tf } from '../tensor/tf.js';

/**
 * How a parameter's PyTorch tensor maps onto ours. Tessera keeps tensors in the
 * layout tfjs computes in (NHWC images, [in, out] linear weights, HWIO kernels);
 * checkpoints from PyTorch store [out, in] and OIHW. The conversion lives in one
 * place, `fromTorchLayout` / `toTorchLayout` in io/torch.ts, driven by this tag.
 * `conv1x1` is a PyTorch 1×1 convolution [out, in, 1, 1] held as a linear weight
 * [in, out] (ConvNeXt's ConvMlp, FAN's position projection): on NHWC features a
 * 1×1 convolution is a linear layer over channels, and runs on the matmul path.
 */
export type TorchLayout = 'same' | 'linear' | 'conv2d' | 'conv1x1';

export interface ParameterOptions {
  /** Updated by the optimiser (PyTorch `requires_grad`). Frozen parameters still count and are still saved. */
  readonly trainable?: boolean;
  /** Whether AdamW applies weight decay (timm exempts norms, biases, position embeddings and class tokens). */
  readonly weightDecay?: boolean;
  readonly torchLayout?: TorchLayout;
}

export interface Parameter {
  readonly variable: tf.Variable;
  readonly trainable: boolean;
  readonly weightDecay: boolean;
  readonly torchLayout: TorchLayout;
}

/** A persistent tensor that is not a parameter (BatchNorm running statistics). */
export interface Buffer {
  readonly variable: tf.Variable;
  readonly torchLayout: TorchLayout;
}

export interface LoadStateDictOptions {
  /** Refuse missing and unexpected keys (default true). With false, only shapes are checked. */
  readonly strict?: boolean;
}

export interface LoadStateDictResult {
  readonly missingKeys: string[];
  readonly unexpectedKeys: string[];
}

/** Key prefix of inline children; a registered name can never contain it. */
const INLINE = '\u0000';

function childPrefix(prefix: string, name: string): string {
  return name.startsWith(INLINE) ? prefix : `${prefix}${name}.`;
}

/**
 * A tree of layers with named parameters, in the manner of PyTorch's nn.Module, so
 * that `blocks.3.attn.qkv.weight` means the same thing here as in the official
 * checkpoints. Subclasses register parameters, buffers and children in their
 * constructor, in the order PyTorch would.
 */
export abstract class Module {
  private readonly ownParameters = new Map<string, Parameter>();
  private readonly ownBuffers = new Map<string, Buffer>();
  private readonly children = new Map<string, Module>();
  private trainingMode = true;

  get training(): boolean {
    return this.trainingMode;
  }

  protected addParameter(name: string, value: tf.Tensor, options: ParameterOptions = {}): tf.Variable {
    this.checkFreeName(name);
    const trainable = options.trainable ?? true;
    const variable = tf.variable(value, trainable);
    if (variable !== (value as unknown)) value.dispose();
    this.ownParameters.set(name, {
      variable,
      trainable,
      weightDecay: options.weightDecay ?? true,
      torchLayout: options.torchLayout ?? 'same',
    });
    return variable;
  }

  protected addBuffer(name: string, value: tf.Tensor, torchLayout: TorchLayout = 'same'): tf.Variable {
    this.checkFreeName(name);
    const variable = tf.variable(value, false);
    value.dispose();
    this.ownBuffers.set(name, { variable, torchLayout });
    return variable;
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    this.checkFreeName(name);
    this.children.set(name, module);
    return module;
  }

  /**
   * Registers `module` without a name of its own: its parameters, buffers and
   * children read as this module's (a spec stage named '', whose `cls_token` or
   * `norm` sits at the top level of the state dict, as in timm's ViT).
   */
  protected addInlineModule<M extends Module>(module: M): M {
    this.children.set(`${INLINE}${this.children.size}`, module);
    return module;
  }

  private checkFreeName(name: string): void {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new InvalidArgumentError('name', name, 'letters, digits and underscores');
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new InvalidArgumentError('name', name, `a name not yet used in ${this.constructor.name}`);
    }
  }

  /** Direct children, in registration order; an inline child (see addInlineModule) has the name ''. */
  namedChildren(): Array<[string, Module]> {
    return [...this.children].map(([name, child]) => [name.startsWith(INLINE) ? '' : name, child]);
  }

  /**
   * Every parameter of this module and its descendants, with dotted names, in
   * PyTorch's order: own parameters first (an inline child's own parameters count
   * as this module's, as timm's top-level `cls_token`, `pos_embed`), then each
   * child's, in registration order.
   */
  namedParameters(prefix = ''): Array<[string, Parameter]> {
    return [...this.hoisted(prefix, (m) => m.ownParameters), ...this.nested(prefix, (m, p) => m.namedParameters(p))];
  }

  namedBuffers(prefix = ''): Array<[string, Buffer]> {
    return [...this.hoisted(prefix, (m) => m.ownBuffers), ...this.nested(prefix, (m, p) => m.namedBuffers(p))];
  }

  /** Own entries, then those of inline children (recursively), under `prefix`. */
  private hoisted<T>(prefix: string, own: (m: Module) => Map<string, T>): Array<[string, T]> {
    const out: Array<[string, T]> = [...own(this)].map(([name, v]) => [prefix + name, v]);
    for (const [name, child] of this.children) if (name.startsWith(INLINE)) out.push(...child.hoisted(prefix, own));
    return out;
  }

  /** Named children's full lists, and inline children's nested parts, in registration order. */
  private nested<T>(prefix: string, all: (m: Module, prefix: string) => Array<[string, T]>): Array<[string, T]> {
    const out: Array<[string, T]> = [];
    for (const [name, child] of this.children) out.push(...(name.startsWith(INLINE) ? child.nested(prefix, all) : all(child, childPrefix(prefix, name))));
    return out;
  }

  /** The variables the optimiser updates. */
  trainableVariables(): tf.Variable[] {
    return this.namedParameters()
      .filter(([, p]) => p.trainable)
      .map(([, p]) => p.variable);
  }

  /** Number of parameter values, counted as PyTorch counts `model.parameters()`: frozen ones included, buffers not. */
  numParameters(): number {
    return this.namedParameters().reduce((n, [, p]) => n + p.variable.size, 0);
  }

  /**
   * Parameters and buffers by name. The tensors are the live variables: read or
   * save them, do not dispose them.
   */
  stateDict(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, p] of this.namedParameters()) out[name] = p.variable;
    for (const [name, b] of this.namedBuffers()) out[name] = b.variable;
    return out;
  }

  /** The PyTorch layout tag of every state-dict entry. */
  stateDictLayouts(): Record<string, TorchLayout> {
    const out: Record<string, TorchLayout> = {};
    for (const [name, p] of this.namedParameters()) out[name] = p.torchLayout;
    for (const [name, b] of this.namedBuffers()) out[name] = b.torchLayout;
    return out;
  }

  /**
   * Copies values into this module's parameters and buffers. Every key is checked
   * before anything is written: a missing or unexpected key (when strict) or a shape
   * mismatch throws a StateDictError naming each offending key, and leaves the
   * module unchanged.
   */
  loadStateDict(state: Record<string, tf.Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in state));
    const unexpectedKeys = Object.keys(state).filter((k) => !(k in own));
    const problems: string[] = [];
    if (strict && missingKeys.length) problems.push(`missing keys: ${missingKeys.join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    const parameterKeys = new Set(this.namedParameters().map(([key]) => key));
    for (const [key, target] of Object.entries(own)) {
      const source = state[key];
      if (!source) continue;
      // Integer data in a weight is a wrong file, not a value to round; integer buffers (PyTorch's int64 num_batches_tracked) are cast.
      if (parameterKeys.has(key) && source.dtype !== 'float32') problems.push(`${key}: dtype ${source.dtype} cannot load into a float32 parameter`);
      if (source.shape.length !== target.shape.length || source.shape.some((d, i) => d !== target.shape[i])) {
        problems.push(`${key}: shape [${source.shape.join(', ')}] does not match the module's [${target.shape.join(', ')}]`);
      }
    }
    if (problems.length) throw new StateDictError(`cannot load state dict into ${this.constructor.name}:\n  ${problems.join('\n  ')}`);
    for (const [key, target] of Object.entries(own)) {
      const source = state[key];
      if (source) (target as tf.Variable).assign(source.dtype === 'float32' ? source : tf.tidy(() => tf.cast(source, 'float32')));
    }
    return { missingKeys, unexpectedKeys };
  }

  /**
   * The default mode of a model's forward calls (`VisionModel.forward` uses it when the
   * call does not say). Layers do not read it: dropout, drop path and BatchNorm follow
   * the forward context's `training`, so one switch drives every layer.
   */
  train(mode = true): this {
    this.trainingMode = mode;
    for (const child of this.children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter and buffer. The module must not be used afterwards. */
  dispose(): void {
    for (const p of this.ownParameters.values()) p.variable.dispose();
    for (const b of this.ownBuffers.values()) b.variable.dispose();
    for (const child of this.children.values()) child.dispose();
  }
}

/** An indexed list of modules, named 0, 1, 2, … as PyTorch's nn.ModuleList / nn.Sequential. */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];

  constructor(items: Iterable<M> = []) {
    super();
    for (const item of items) this.push(item);
  }

  push(item: M): void {
    this.addModule(String(this.items.length), item);
    this.items.push(item);
  }

  get length(): number {
    return this.items.length;
  }

  at(index: number): M {
    const item = this.items[index];
    if (!item) throw new InvalidArgumentError('index', index, `an integer in [0, ${this.items.length - 1}]`);
    return item;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

/** Named child modules, as PyTorch's nn.ModuleDict: a container whose keys are state-dict prefixes. */
export class ModuleDict<M extends Module = Module> extends Module {
  private readonly items = new Map<string, M>();

  set(name: string, item: M): M {
    this.addModule(name, item);
    this.items.set(name, item);
    return item;
  }

  get(name: string): M | undefined {
    return this.items.get(name);
  }

  keys(): string[] {
    return [...this.items.keys()];
  }
}
