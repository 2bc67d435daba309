// Lint rules: strict typed lint for all TypeScript; layering enforced with no-restricted-imports.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (patterns, message) => ['error', { patterns: [{ group: patterns, message }] }];

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
    files: ['src/domain/**/*.ts'],
    // Tests (and their fixtures) wire real adapters in; the rule guards production code.
    ignores: ['**/*.test.ts', '**/*.fixture.ts'],
    rules: {
      'no-restricted-imports': layer(
        [
          '**/api/**',
          '**/cli/**',
          '**/main.ts',
          '**/app/**',
          'fastify',
          '**/storage/sqlite/**',
          '**/storage/postgres/**',
          '**/backends/local/**',
          '**/backends/simulated/**',
          '**/backends/slurm/**',
          '**/backends/agent.ts',
        ],
        'domain/ must not import api/, cli/, the composition root, HTTP libraries, a concrete store or a concrete ' +
          'backend: it reaches them through the ports (storage/port.ts, backends/port.ts).',
      ),
    },
  },
  {
    files: ['src/storage/**/*.ts', 'src/platform/**/*.ts', 'src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': layer(
        ['**/api/**', '**/cli/**', '**/main.ts', '**/app/**', 'fastify'],
        'ports and platform must not import api/, cli/ or the composition root.',
      ),
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
