import pkg from '../package.json' with { type: 'json' };

/** The version of @tessera/core, checked against each plugin's `coreRange`. Read from package.json at build time, so a release cannot forget it. */
export const CORE_VERSION: string = pkg.version;
