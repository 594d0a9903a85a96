/**
 * The one TensorFlow.js instance every Tessera package uses. Plugins import `tf`
 * from `@tessera/core` instead of depending on tfjs-core themselves, so a project
 * never ends up with two kernel or backend registries.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's Node bundle registers no gradients, and its ESM build cannot be
// loaded by Node (extension-less imports). tfjs-layers' Node bundle registers
// every core gradient into this same tfjs-core instance when it loads; that side
// effect is the only reason core imports it.
import '@tensorflow/tfjs-layers';

export { tf };
