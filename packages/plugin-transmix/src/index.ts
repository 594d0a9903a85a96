import { transmixPlugin } from './plugin.js';

export { transmixPlugin };
export { TransMix, transmixDefinition, transmixOptions, type TransmixOptions, type TransmixOptionsInput } from './transmix.js';
export { boxMaskOnGrid, type Size } from './grid-mask.js';
export { attentionLambda } from './attention-lambda.js';

export default transmixPlugin;
