/** The version of @tessera/core, checked against each plugin's `coreRange`. Kept equal to package.json by a test. */
export const CORE_VERSION = '0.1.0';
