// Lint rules: strict typed lint for all TypeScript; the layer map (layers.ts) enforced with eslint-plugin-boundaries.
import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';
import { ENVIRONMENT_READERS, LAYERS, OUTSIDE_THE_MAP, targetOf } from './layers.ts';

export default tseslint.config(
  { ignores: ['node_modules/**', 'eslint.config.js', '.lazurite/**', '.test-data/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      'max-lines': ['error', { max: 500, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // The layer map (layers.ts, ADR 0036): every src/ file is in one layer and imports only what its layer may.
    files: ['src/**/*.ts'],
    ignores: [...OUTSIDE_THE_MAP],
    plugins: { boundaries },
    settings: {
      'boundaries/elements': LAYERS.map((l) => ({ type: l.name, pattern: l.folders, partialMatch: false })),
      'boundaries/files': LAYERS.flatMap((l) =>
        Object.entries(l.parts ?? {}).map(([part, pattern]) => ({ category: `${l.name}/${part}`, pattern })),
      ),
      'boundaries/include': ['src/**/*.ts'],
      'boundaries/ignore': [...OUTSIDE_THE_MAP],
    },
    rules: {
      'boundaries/no-unknown-files': 'error',
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          checkUnknownLocals: true,
          message:
            'layer map (layers.ts): {{from.type}} must not import {{to.type}} (see what {{from.type}} may import)',
          policies: LAYERS.flatMap((l) =>
            [l.name, ...l.mayImport].map((entry) => {
              const { layer, part } = targetOf(entry);
              const to = {
                element: { type: layer },
                ...(part ? { file: { categories: `${layer}/${part}` } } : {}),
              };
              return { from: { element: { type: l.name } }, allow: { to } };
            }),
          ),
        },
      ],
    },
  },
  {
    // Environment variables are configuration: read them in config/ (or the composition, the CLI, tests).
    files: ['src/**/*.ts'],
    ignores: [...ENVIRONMENT_READERS, ...OUTSIDE_THE_MAP],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'process.env is read only in src/config/ (typed config), src/app/, src/cli/ and tests.',
        },
      ],
    },
  },
  {
    // Tests build fixtures freely and may use long describe blocks.
    files: ['**/*.test.ts', '**/*.fixture.ts', 'tests/**/*.ts', 'src/**/conformance.ts'],
    rules: {
      'max-lines-per-function': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
