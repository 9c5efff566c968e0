import stylistic from '@stylistic/eslint-plugin';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', 'coverage/**', '*.config.js', 'bin/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@stylistic': stylistic },
    rules: {
      // Prettier formats to 120 columns (.prettierrc.json) but leaves long strings and comments
      // alone: the linter holds comments and code to the same width.
      '@stylistic/max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-non-null-assertion': 'error',
    },
  },
  {
    // The console's browser scripts are plain modern JS served as they are: no type information.
    files: ['local/console/assets/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Tests may not leave focused or skipped tests behind.
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'test', property: 'only', message: 'Remove focused tests.' },
        { object: 'describe', property: 'only', message: 'Remove focused tests.' },
        { object: 'it', property: 'only', message: 'Remove focused tests.' },
      ],
    },
  },
);
