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
    const build = SerializerSelector()(externalSchemas, { ...options, compileValidators: true } as typeof options);
    const compiled = new WeakMap<object, ReturnType<typeof build>>();
    return (route) => {
      const key = route.schema as object;
      let serialize = compiled.get(key);
      if (!serialize) {
        // Built on the first response that needs it, or in the background once the app is ready (deferred.ts).
        const get = deferred.lazy(() => build(route));
        serialize = (data) => get()(data);
        compiled.set(key, serialize);
      }
      return serialize;
    };
  };
