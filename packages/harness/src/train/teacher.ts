import {
  ComposedModel,
  InvalidArgumentError,
  loadTorchStateDict,
  registry,
  tf,
  torchStateDict,
  type Augmentation,
  type Batch,
  type VisionModel,
} from '@tessera/core';
import { buildModel } from '../model.js';
import { loadPlugins } from '../plugins.js';
import { loadCheckpointTensors, readCheckpoint } from './checkpoint.js';

export interface Teacher {
  readonly model: VisionModel;
  readonly runDir: string;
  /** The post-forward step: the targets become the teacher's probabilities on the same (cropped, mixed) images. */
  readonly step: Augmentation<undefined>;
}

/**
 * Loads a finished or interrupted run as a frozen teacher (its model, plugins and
 * last weights) for `tessera train --teacher`.
 */
export async function loadTeacher(runDirOrCheckpoint: string, student: { numClasses: number; inChannels: number; mean: readonly number[]; std: readonly number[] }): Promise<Teacher> {
  const run = await readCheckpoint(runDirOrCheckpoint, '--teacher');
  const saved = run.state.config;
  await loadPlugins(saved.plugins);
  const model = buildModel(saved.model, { numClasses: student.numClasses, imgSize: saved.imgSize, inChannels: student.inChannels, seed: saved.seed });
  try {
    if (model.config.numClasses !== student.numClasses) {
      throw new InvalidArgumentError('--teacher', runDirOrCheckpoint, `a teacher with the student's ${student.numClasses} classes (it has ${model.config.numClasses})`);
    }
    const weights = await loadCheckpointTensors(run.runDir, run.state.files.model);
    try {
      model.loadStateDict(weights);
    } finally {
      tf.dispose(Object.values(weights));
    }
    model.eval();
  } catch (error) {
    model.dispose();
    throw error;
  }
  const [th, tw] = model.config.inputSize;
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) < 1e-12);
  const sameNormalisation = same(model.config.mean.slice(0, student.inChannels), student.mean) && same(model.config.std.slice(0, student.inChannels), student.std);
  /** The student's normalised batch as the teacher wants it: same view, the teacher's size and normalisation (big_vision distill: one crop, two resizes). */
  const teacherView = (images: tf.Tensor4D): tf.Tensor4D =>
    tf.tidy(() => {
      let x = images;
      if (!sameNormalisation) {
        const raw = tf.add(tf.mul(x, tf.tensor1d(student.std as number[])), tf.tensor1d(student.mean as number[]));
        x = tf.div(tf.sub(raw, tf.tensor1d(model.config.mean.slice(0, student.inChannels) as number[])), tf.tensor1d(model.config.std.slice(0, student.inChannels) as number[])) as tf.Tensor4D;
      }
      if (x.shape[1] !== th || x.shape[2] !== tw) x = tf.image.resizeBilinear(x, [th, tw], false, true);
      return x;
    });
  const step: Augmentation<undefined> = {
    name: 'distill',
    requiresOutputs: [],
    checkModel: () => {},
    sample: () => undefined,
    apply: (batch: Batch) => batch,
    // FlexiViT distillation (big_vision trainers/proj/flexi/distill.py): targets are softmax(teacher logits) at T = 1.
    afterForward: (batch: Batch) =>
      tf.tidy(() => tf.softmax(model.forward(teacherView(batch.images), { training: false }).logits)) as tf.Tensor2D,
  };
  return { model, runDir: run.runDir, step };
}

/**
 * Initialises the student from the teacher (FlexiViT §4.4, big_vision `flexi/vit.py`
 * `load`): the teacher's state dict in PyTorch layout goes through the student's
 * named-model checkpoint filter (which PI-resizes a patch kernel and resamples a
 * position table to the student's stored sizes), then every key the student has with
 * the same shape is loaded. Returns what was loaded and what was left as initialised.
 */
export function initStudentFromTeacher(student: VisionModel, teacher: VisionModel): { loaded: string[]; skipped: string[] } {
  const state = torchStateDict(teacher);
  let filtered = state;
  try {
    const name = student.config.name;
    const definition = registry.listModels().includes(name) ? registry.getModel(name).definition : undefined;
    if (definition?.checkpointFilter && student instanceof ComposedModel) filtered = definition.checkpointFilter(state, student);
    const own = Object.fromEntries(torchShapes(student));
    const usable = Object.fromEntries(Object.entries(filtered).filter(([k, t]) => own[k] !== undefined && sameShape(own[k]!, t.shape)));
    const loaded = Object.keys(usable);
    if (!loaded.length) {
      throw new InvalidArgumentError('--teacher', teacher.config.name, `a teacher sharing parameter names and shapes with ${name} (none match)`);
    }
    loadTorchStateDict(student, usable, { strict: false });
    return { loaded, skipped: Object.keys(own).filter((k) => usable[k] === undefined) };
  } finally {
    const fresh = new Set(Object.values(filtered).filter((t) => !Object.values(state).includes(t)));
    tf.dispose([...Object.values(state), ...fresh]);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The student's parameter and buffer shapes in PyTorch's layouts. */
function torchShapes(model: VisionModel): Array<[string, number[]]> {
  const state = torchStateDict(model);
  const shapes = Object.entries(state).map(([k, t]) => [k, t.shape] as [string, number[]]);
  tf.dispose(Object.values(state));
  return shapes;
}
