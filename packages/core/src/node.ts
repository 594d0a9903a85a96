// @tessera/core/node: the file helpers, kept out of the main entry so that it runs in browsers.
export { loadSafetensors, openRegularFile, readRange, saveSafetensors, writeFileAtomic } from './node/files.js';
