import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import type { FastifyServerOptions } from 'fastify';
import type { DeferredCompiles } from './deferred.js';

type SerializerFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildSerializer'];

/**
 * Fastify compiles a serializer for every response schema of every route, and most routes share theirs (a message,
 * a room, the problem+json of each error status on every route): compiled once per schema object instead, the start
 * skips most of fast-json-stringify's code generation (the largest part of building the app in a start profile).
 * Keyed by the schema object and the external schemas it may reference, so a plugin's own schemas never mix in.
 */
export const sharedSerializers =
  (deferred: DeferredCompiles): SerializerFactory =>
  (externalSchemas, options) => {
    // compileValidators: the validators of its anyOf branches are compiled with the serializer (in the background
    // after the start) instead of by the first response that reaches each branch; a profile of the REST rows found
    // ~100 such compiles (ajv 6-7 % of the CPU) landing on requests minutes after the start.
    const externals = Object.fromEntries(Object.entries(externalSchemas ?? {}).map(([id, schema]) => [id, forSerializing(schema)]));
    const build = SerializerSelector()(externals, { ...options, compileValidators: true } as typeof options);
    const compiled = new WeakMap<object, ReturnType<typeof build>>();
    return (route) => {
      const key = route.schema as object;
      let serialize = compiled.get(key);
      if (!serialize) {
        // Built on the first response that needs it, or in the background once the app is ready (deferred.ts).
        const get = deferred.lazy(() => build({ ...route, schema: forSerializing(route.schema) }));
        serialize = (data) => get()(data);
        compiled.set(key, serialize);
      }
      return serialize;
    };
  };

type Schema = Record<string, unknown>;
const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);
const COMBINATORS = ['anyOf', 'oneOf', 'allOf', 'not', 'if', '$ref', 'nullable'];
/** Keywords whose values are data, not schemas. */
const DATA = new Set(['const', 'enum', 'default', 'examples', 'example', 'required']);

/**
 * A response schema as fast-json-stringify serializes it fastest, writing the same JSON. For every `anyOf` it runs
 * the compiled validators of the branches on each value (a date-time format check per timestamp), so the contract's
 * nullable fields (`anyOf: [T, null]`) become `T` with `nullable: true` (null, else T's own serializer), and a union
 * of string constants (a message's `type`) becomes a string `enum`. Only the serializer's copy changes: requests are
 * still validated, and the OpenAPI document still written, from the contract's schemas. The values are the service's
 * own (the presenters build them), so a branch check could only ever confirm them.
 */
export function forSerializing(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forSerializing);
  if (!isSchema(schema)) return schema;
  // One copy per schema object: a schema with an $id (a Message) is both an external schema and inlined in routes,
  // and the serializer refuses two different objects under one $id.
  let copy = rewritten.get(schema);
  if (!copy) rewritten.set(schema, (copy = rewrite(schema)));
  return copy;
}

const rewritten = new WeakMap<object, unknown>();

function rewrite(schema: Schema): unknown {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) out[key] = DATA.has(key) ? value : forSerializing(value);
  const branches = out['anyOf'];
  if (!Array.isArray(branches) || !branches.every(isSchema)) return out;
  const { anyOf: _, ...siblings } = out;
  const plain = (b: Schema) => typeof b['type'] === 'string' && b['type'] !== 'null' && COMBINATORS.every((k) => !(k in b));
  const isNull = (b: Schema) => b['type'] === 'null' && Object.keys(b).length === 1;
  if (branches.length === 2 && branches.some(isNull)) {
    const other = branches.find((b) => !isNull(b))!;
    if (plain(other)) {
      // Without its $id: the copy is inline, and the schema under that $id (a Message) stays as it is.
      const { $id: _id, ...body } = other;
      return { ...siblings, ...body, nullable: true };
    }
  }
  if (branches.every((b) => b['type'] === 'string' && typeof b['const'] === 'string' && Object.keys(b).length === 2)) {
    return { ...siblings, type: 'string', enum: branches.map((b) => b['const']) };
  }
  return out;
}
