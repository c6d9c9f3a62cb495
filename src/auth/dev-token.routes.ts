import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Config } from '../config.js';
import type { Feature } from '../feature.js';
import { DevTokenAnswer, DevTokenBody } from './dev-token.schemas.js';
import { mintToken } from './tokens.js';

/** Where the web app signs in; the contract names no prefix, so it is served at the root and under the API prefix. */
export const DEV_TOKEN_PATH = '/dev/token';

const DESCRIPTION =
  'Development sign-in: a token for any user id, signed with the HS256 JWT_SECRET and valid for 24 h. Served unless ' +
  'NODE_ENV=production; there only with DEV_SIGN_IN=1 (otherwise 404, like any unknown route). Never enable it where ' +
  'real users sign in: anyone can become anyone.';

const devTokenRoutes: FastifyPluginAsyncTypebox<{ jwt: Config['jwt']; paths: Array<{ url: string; hide: boolean }> }> = async (
  app,
  { jwt, paths },
) => {
  const secret = jwt.secret!;
  for (const { url, hide } of paths) {
    app.post(
      url,
      {
        schema: {
          hide,
          operationId: 'createDevToken',
          tags: ['development'],
          summary: 'Mint a development token (DEV_SIGN_IN)',
          description: DESCRIPTION,
          security: [],
          body: DevTokenBody,
          response: { 200: DevTokenAnswer, 400: Type.Ref('Problem') },
        },
      },
      async (req, reply) => {
        const { userId, name, role, businessIds } = req.body;
        // A blank name field is no name: the app then shows the user id.
        const shown = name?.trim() ? name : undefined;
        const token = await mintToken(secret, userId, {
          ...(shown !== undefined ? { name: shown } : {}),
          ...(role !== undefined ? { role } : {}),
          ...(businessIds !== undefined ? { businessIds } : {}),
          expiresIn: '24h',
          ...(jwt.issuer ? { issuer: jwt.issuer } : {}),
          ...(jwt.audience ? { audience: jwt.audience } : {}),
        });
        void reply.header('cache-control', 'no-store');
        return { token };
      },
    );
  }
};

/**
 * POST /dev/token (and the same under the API prefix), outside authentication, when config.devSignIn is on; when it
 * is off the routes do not exist, so they answer 404 exactly as an unknown route does.
 */
export function devSignInFeature(config: Config, apiPrefix: string): Feature {
  return {
    name: 'dev sign-in',
    publicRoutes: async (http) => {
      if (!config.devSignIn) return;
      await http.register(devTokenRoutes, {
        jwt: config.jwt,
        paths: [
          { url: DEV_TOKEN_PATH, hide: false },
          { url: apiPrefix + DEV_TOKEN_PATH, hide: true },
        ],
      });
    },
  };
}
