import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

/**
 * The features and the features each may import (see docs/architecture.md). Anything not listed is refused, so the
 * modules stay a graph without cycles: what has to go the other way is injected by app.ts, never imported.
 */
const FEATURES = {
  users: [],
  rooms: ['users'],
  media: ['rooms'],
  messages: ['rooms', 'media'],
  reads: ['rooms', 'messages'],
  search: ['rooms', 'messages'],
  reactions: ['rooms', 'messages'],
  pins: ['rooms', 'messages'],
  presence: [],
  notifications: ['presence'],
  moderation: ['users', 'rooms', 'messages'],
  webhooks: ['rooms', 'messages'],
  admin: ['users', 'rooms', 'messages', 'media', 'reactions', 'reads', 'notifications', 'moderation', 'webhooks'],
};
const LIBRARY_FOLDERS = 'text|net|db|auth|config|http|event-log|limits';
const LIBRARY_FILES = 'errors|ids|timers|batch-loader|log|events|feature|config|redis';

const allow = (from, ...types) => ({ from: { element: from }, allow: { to: { element: { types: { anyOf: types } } } } });
const feature = (name) => ({ type: 'feature', captured: { name } });

const boundaryRules = {
  files: ['src/**/*.ts'],
  plugins: { boundaries },
  settings: {
    'import/resolver': { typescript: { project: './tsconfig.json' } },
    'boundaries/elements': [
      { type: 'contract', pattern: 'src/contract' },
      { type: 'feature', pattern: `src/(${Object.keys(FEATURES).join('|')})`, capture: ['name'] },
      { type: 'realtime', pattern: 'src/realtime' },
      { type: 'library', pattern: `src/(${LIBRARY_FOLDERS})` },
      // `mode: 'file'` is deprecated in v7 (it prints a warning) but is still the one way to classify single files here.
      { type: 'library', pattern: `src/(${LIBRARY_FILES}).ts`, mode: 'file' },
      { type: 'root', pattern: 'src/*.ts', mode: 'file' },
    ],
  },
  rules: {
    'boundaries/dependencies': [
      'error',
      {
        default: 'disallow',
        policies: [
          // The contract is what clients build on: TypeBox and nothing of the server.
          allow({ type: 'contract' }, 'contract'),
          allow({ type: 'library' }, 'contract', 'library'),
          ...Object.entries(FEATURES).flatMap(([name, deps]) => [
            allow(feature(name), 'contract', 'library'),
            { from: { element: feature(name) }, allow: { to: { element: feature(name) } } },
            ...deps.map((dep) => ({ from: { element: feature(name) }, allow: { to: { element: feature(dep) } } })),
          ]),
          allow({ type: 'realtime' }, 'contract', 'library', 'feature', 'realtime'),
          allow({ type: 'root' }, 'contract', 'library', 'feature', 'realtime', 'root'),
        ],
      },
    ],
  },
};

export default tseslint.config(
  {
    ignores: ['dist/**', 'client/dist/**', 'web/dist/**', 'node_modules/**', 'data/**', '.test-tmp/**', 'coverage/**', 'bench/results/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  boundaryRules,
  {
    // Only TypeBox, so the SDK and generated clients can take the contract as it is.
    files: ['src/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(?!@sinclair/typebox$|\\./)', message: 'the contract imports TypeBox only' }] },
      ],
    },
  },
  {
    // The web app: the rules of hooks, and complete effect dependencies (a stale closure there is a real bug).
    files: ['web/src/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
