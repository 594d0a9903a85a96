import { pluginSuite } from '@tessera/conformance';
import { describe, test } from 'vitest';
import { transmixPlugin } from '../src/index.js';

// The kit a community plugin runs (README of @tessera/conformance): the plugin-level checks and every combination of its blocks with core's.
pluginSuite({
  plugin: transmixPlugin,
  test,
  describe,
});
