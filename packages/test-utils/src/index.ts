/** Test helpers shared by every Tessera package's suite (private, never published). */
export { browserBundleProblems } from './browser-bundle.js';
export { expectRelClose } from './rel-close.js';
export {
  backboneKeys,
  expectClsAttentionMatches,
  patchTokens,
  referenceClsAttention,
  referenceLogits,
  shrinkResidualStream,
  sharpenAttention,
  type ClsAttentionArgs,
  type ClsAttentionReference,
} from './cls-attention.js';
