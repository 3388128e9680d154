// ESLint: typescript-eslint's recommended type-checked rules on everything TypeScript in the repo;
// formatting is Prettier's job (eslint-config-prettier turns off the rules that would fight it).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**', 'bench/profiles/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Unused arguments and destructured leftovers named with a leading _ are deliberate.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests, the bench and tools read JSON answers and metrics of unknown shape: `any` there is the point of the assertion.
    // Their callbacks are async to fit APIs that take a promise (fast-check, eventually()) even when they await nothing.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'tools/**/*.ts', 'testkit/**/*.ts', 'packages/*/test/**/*.ts'],
    rules: {
      '@typescript-eslint/require-await': 'off',
      // kafkajs hands its payload's functions as closures; destructuring them is how its docs use them.
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  prettier,
);
