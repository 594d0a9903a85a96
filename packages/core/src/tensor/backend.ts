import '@tensorflow/tfjs-backend-wasm';
import { InvalidArgumentError, TesseraError } from '../errors.js';
import { configureNativeMatMul, NATIVE_MATMUL_MODES, type NativeMatMulMode } from '../native/native-matmul.js';
import { tf } from './tf.js';

/** Backends Tessera can select. `auto` picks the fastest one that is installed. */
export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
export type ConcreteBackend = Exclude<BackendChoice, 'auto'>;

/** Fastest first; `auto` walks this list and keeps the first that starts. */
const AUTO_ORDER: readonly ConcreteBackend[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** The optional packages behind each backend that core does not ship. */
const OPTIONAL_PACKAGES: Partial<Record<ConcreteBackend, string[]>> = {
  'tensorflow-gpu': ['@tensorflow/tfjs-node-gpu'],
  tensorflow: ['@tensorflow/tfjs-node'],
  webgpu: ['@tensorflow/tfjs-backend-webgpu', 'webgpu'],
};

/** The tfjs backend name each choice registers under. */
const TFJS_NAME: Record<ConcreteBackend, string> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  webgpu: 'webgpu',
  wasm: 'wasm',
  cpu: 'cpu',
};

export class BackendUnavailableError extends TesseraError {}

let active: ConcreteBackend | undefined;

async function importOptional(pkg: string, backend: ConcreteBackend): Promise<Record<string, unknown>> {
  try {
    return (await import(/* @vite-ignore */ pkg)) as Record<string, unknown>;
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new BackendUnavailableError(
      `backend '${backend}' needs the optional package ${pkg}, which could not be loaded (${detail}). ` +
        `Install it next to @tessera/core (npm install ${pkg}) or choose another backend: ${BACKENDS.join(', ')}.`,
    );
  }
}

interface DawnGpu {
  requestAdapter(options?: Record<string, unknown>): Promise<{ info?: { description?: string; vendor?: string } } | null>;
  getPreferredCanvasFormat?(): string;
  wgslLanguageFeatures?: unknown;
}

let webgpuAdapter: string | undefined;

/**
 * Node has no `navigator.gpu`; the `webgpu` package (Dawn, prebuilt) provides one. Done once,
 * before tfjs-backend-webgpu asks for an adapter. Dawn first tries the platform's GPU API
 * (Vulkan on Linux with an NVIDIA/AMD/Intel driver, Metal, D3D12). Where that yields no
 * adapter, Dawn's OpenGL backend is tried with a compatibility-level adapter, the level
 * WebGPU defines for GL-class devices; without a GPU this is Mesa's llvmpipe, a CPU
 * rasteriser that runs every kernel correctly but slowly (shared/docs/perf-anchors.md: Dawn
 * refuses Mesa's lavapipe Vulkan driver, and tfjs asks for a core-level adapter, which GL cannot give).
 */
async function provideNavigatorGpu(): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: unknown }; process?: { env: Record<string, string | undefined> } };
  if (g.navigator?.gpu) return;
  const dawn = (await importOptional('webgpu', 'webgpu')) as {
    create: (flags: string[]) => DawnGpu;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, dawn.globals);
  const native = dawn.create([]);
  let source = native;
  let compatibility = false;
  if (!(await native.requestAdapter())) {
    // Without a display server, EGL must be told to run surfaceless (compute needs no surface).
    const env = g.process?.env;
    if (env && env.EGL_PLATFORM === undefined) env.EGL_PLATFORM = 'surfaceless';
    source = dawn.create(['backend=opengl']);
    compatibility = true;
  }
  const gpu: DawnGpu = {
    requestAdapter: async (options = {}) => {
      const adapter = await source.requestAdapter(compatibility ? { ...options, featureLevel: 'compatibility' } : options);
      if (adapter) webgpuAdapter = `${adapter.info?.description || adapter.info?.vendor || 'unknown adapter'}${compatibility ? ' (OpenGL, compatibility level)' : ''}`;
      return adapter;
    },
    getPreferredCanvasFormat: () => native.getPreferredCanvasFormat?.() ?? 'rgba8unorm',
    wgslLanguageFeatures: native.wgslLanguageFeatures,
  };
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
}

/** The GPU adapter the webgpu backend runs on (Dawn's description), once it has started; undefined otherwise. */
export function webgpuAdapterDescription(): string | undefined {
  return webgpuAdapter;
}

async function activate(choice: ConcreteBackend): Promise<void> {
  if (choice === 'webgpu') {
    await provideNavigatorGpu();
    const gpu = (globalThis as { navigator?: { gpu?: DawnGpu } }).navigator?.gpu;
    if (!(await gpu?.requestAdapter())) {
      throw new BackendUnavailableError(
        "backend 'webgpu' found no WebGPU adapter: Dawn saw no GPU through Vulkan/Metal/D3D12 and no OpenGL (EGL) device. " +
          "Install your GPU's Vulkan driver, or on Linux without a GPU Mesa's EGL and GL (Debian: libegl1 libegl-mesa0 libgl1-mesa-dri) for a software adapter.",
      );
    }
  }
  for (const pkg of OPTIONAL_PACKAGES[choice] ?? []) {
    if (pkg !== 'webgpu') await importOptional(pkg, choice);
  }
  const name = TFJS_NAME[choice];
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (cause) {
    throw new BackendUnavailableError(
      `backend '${choice}' is installed but failed to start: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
  }
  if (!ok || tf.getBackend() !== name) {
    throw new BackendUnavailableError(`backend '${choice}' is installed but failed to initialise on this machine`);
  }
  active = choice;
}

export interface SetBackendOptions {
  /**
   * Matrix products of the wasm backend in onnxruntime-node (an optional peer
   * dependency; see configureNativeMatMul). Default: the TESSERA_NATIVE_MATMUL
   * environment variable, else `auto` (on when onnxruntime-node is installed).
   */
  readonly nativeMatMul?: NativeMatMulMode;
  /** Threads for those products; default every core (data-parallel workers pass cores / workers). */
  readonly nativeMatMulThreads?: number;
}

function nativeMatMulMode(options: SetBackendOptions): NativeMatMulMode {
  if (options.nativeMatMul !== undefined) {
    if (!(NATIVE_MATMUL_MODES as readonly string[]).includes(options.nativeMatMul)) {
      throw new InvalidArgumentError('nativeMatMul', String(options.nativeMatMul), `one of ${NATIVE_MATMUL_MODES.join(', ')}`);
    }
    return options.nativeMatMul;
  }
  const fromEnv = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.TESSERA_NATIVE_MATMUL;
  if (fromEnv === undefined || fromEnv === '') return 'auto';
  if (!(NATIVE_MATMUL_MODES as readonly string[]).includes(fromEnv)) {
    throw new InvalidArgumentError('TESSERA_NATIVE_MATMUL', fromEnv, `one of ${NATIVE_MATMUL_MODES.join(', ')}`);
  }
  return fromEnv as NativeMatMulMode;
}

/**
 * Selects the tensor backend. `auto` tries tensorflow-gpu, tensorflow, wasm and cpu
 * in that order and keeps the first that starts; an explicit choice whose package is
 * missing fails at once with the name of the package to install. On wasm, matrix
 * products move to onnxruntime-node when it is installed (options.nativeMatMul).
 * Resolves to the backend that is now active.
 */
export async function setBackend(choice: BackendChoice = 'auto', options: SetBackendOptions = {}): Promise<ConcreteBackend> {
  if (!(BACKENDS as readonly string[]).includes(choice)) {
    throw new InvalidArgumentError('backend', choice, `one of ${BACKENDS.join(', ')}`);
  }
  const mode = nativeMatMulMode(options);
  const threads = options.nativeMatMulThreads;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 1024)) {
    throw new InvalidArgumentError('nativeMatMulThreads', String(threads), 'an integer from 1 to 1024');
  }
  const native = () => configureNativeMatMul({ mode, ...(threads !== undefined ? { threads } : {}) });
  if (choice !== 'auto') {
    await activate(choice);
    native();
    return choice;
  }
  const failures: string[] = [];
  for (const candidate of AUTO_ORDER) {
    try {
      await activate(candidate);
      native();
      return candidate;
    } catch (error) {
      failures.push(`${candidate}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new BackendUnavailableError(`no backend could start:\n${failures.join('\n')}`);
}

/**
 * The backend in use. Before any `setBackend` call this reports the tfjs default
 * (wasm when it is registered).
 */
export function getBackend(): ConcreteBackend {
  if (active !== undefined && TFJS_NAME[active] === tf.getBackend()) return active;
  const name = tf.getBackend();
  const match = (Object.keys(TFJS_NAME) as ConcreteBackend[]).find((k) => TFJS_NAME[k] === name && k !== 'tensorflow-gpu');
  if (!match) throw new BackendUnavailableError(`the active tfjs backend '${name}' is not one Tessera knows`);
  return match;
}
