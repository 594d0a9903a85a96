import { pluginSuite } from '@tessera/conformance';
import { describe, test } from 'vitest';
import { fanPlugin } from '../src/index.js';

// The kit a community plugin runs (README of @tessera/conformance): the plugin-level checks and every combination of its blocks with core's.
pluginSuite({
  plugin: fanPlugin,
  test,
  describe,
  // 570 combinations with core's blocks (pairwise); a seeded 120 of them keep this file near half a minute.
  runs: 120,
});
