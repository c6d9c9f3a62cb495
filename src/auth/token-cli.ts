/**
 * `npm run token -- <userId> [--name N] [--picture URL] [--role support] [--business B1,B2] [--expires 24h]`
 * prints a development token signed with the configured JWT_SECRET (or the one generated into DATA_DIR).
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { isUserId, mintToken, type UserRole } from './tokens.js';

const usage = 'usage: npm run token -- <userId> [--name N] [--picture URL] [--role user|support|admin] [--business B1,B2] [--expires 24h]';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      picture: { type: 'string' },
      role: { type: 'string' },
      business: { type: 'string' },
      expires: { type: 'string' },
    },
  });
  const userId = positionals[0];
  if (!userId || positionals.length > 1) throw new Error(usage);
  // The service would refuse the token anyway; better to say so here than with a 401 later.
  if (!isUserId(userId)) throw new Error(`the user id must be 1 to 128 characters without control characters\n${usage}`);
  if (values.role && !['user', 'support', 'admin'].includes(values.role))
    throw new Error(`--role must be user, support or admin\n${usage}`);
  const config = loadConfig();
  if (!config.jwt.secret)
    throw new Error('minting needs an HS256 secret: set JWT_SECRET (tokens for JWT_PUBLIC_KEY/JWKS_URL come from your identity provider)');
  const token = await mintToken(config.jwt.secret, userId, {
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(values.picture !== undefined ? { picture: values.picture } : {}),
    ...(values.role !== undefined ? { role: values.role as UserRole } : {}),
    ...(values.business !== undefined
      ? {
          businessIds: values.business
            .split(',')
            .map((b) => b.trim())
            .filter(Boolean),
        }
      : {}),
    expiresIn: values.expires ?? '24h',
    ...(config.jwt.issuer ? { issuer: config.jwt.issuer } : {}),
    ...(config.jwt.audience ? { audience: config.jwt.audience } : {}),
  });
  process.stdout.write(token + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(err.message + '\n');
  process.exit(1);
});
