import { corePlugin } from '@tessera/core';
import { describe, test } from 'vitest';
import { pluginSuite } from '../src/index.js';

// Core's own blocks, models and augmentations keep the contract they define.
pluginSuite({ plugin: corePlugin, test, describe });
