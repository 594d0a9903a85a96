export { generatePlugin, TEMPLATE_VERSIONS, type GenerateOptions, type Generated } from './generate.js';
export { pluginNames, type PluginNames } from './names.js';
export { coreRangeFor, pluginFiles, type TemplateVersions } from './templates.js';
