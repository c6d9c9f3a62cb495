/**
 * `npm run seed [-- --messages N] [--url URL]`: demo people, rooms of every type and a few thousand messages, made through
 * the API of a running service (`npm start` in another terminal), so the web app has something to show. Running it
 * again makes only what is missing. Tokens are signed as `npm run token` signs them (JWT_SECRET, or the secret the
 * service generated into DATA_DIR); the service is found at SEED_URL, else at PORT/HOST as the service reads them.
 */
import { parseArgs } from 'node:util';
import { mintToken } from '../src/auth/tokens.js';
import { loadConfig, type Config } from '../src/config.js';
import { SeedError } from './seed/api.js';
import { DEMO_STAFF, DEMO_USER, USERS } from './seed/plan.js';
import { DEFAULT_MESSAGES, seed } from './seed/run.js';

const usage = 'usage: npm run seed -- [--messages N] [--url http://host:port]';

/** Where the service listens, as a client reaches it: a wildcard address is this machine. */
function serviceUrl(config: Config): string {
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${config.port}`;
}

async function main(): Promise<void> {
  let values: { messages?: string; url?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { messages: { type: 'string' }, url: { type: 'string' }, help: { type: 'boolean' } } }));
  } catch (err) {
    throw new SeedError(`${(err as Error).message}\n${usage}`);
  }
  if (values.help) return void process.stdout.write(usage + '\n');
  const messages = Number(values.messages ?? DEFAULT_MESSAGES);
  if (!Number.isInteger(messages) || messages < 0) throw new SeedError(`--messages must be a whole number\n${usage}`);
  const config = loadConfig();
  const secret = config.jwt.secret;
  if (!secret)
    throw new SeedError(
      'seeding signs demo tokens with an HS256 secret: set JWT_SECRET (as for npm run token), not only JWT_PUBLIC_KEY/JWKS_URL',
    );
  const baseUrl = (values.url ?? process.env['SEED_URL'] ?? serviceUrl(config)).replace(/\/+$/, '');
  process.stdout.write(`Seeding ${baseUrl} with ${USERS.length} people and about ${messages} messages\n`);

  const started = Date.now();
  const summary = await seed({
    baseUrl,
    messages,
    mint: (user) =>
      mintToken(secret, user.id, {
        name: user.name,
        ...(user.role ? { role: user.role } : {}),
        ...(user.businessIds ? { businessIds: user.businessIds } : {}),
        expiresIn: '1h',
        ...(config.jwt.issuer ? { issuer: config.jwt.issuer } : {}),
        ...(config.jwt.audience ? { audience: config.jwt.audience } : {}),
      }),
  });
  const took = ((Date.now() - started) / 1000).toFixed(1);
  const nothing = summary.writes === 0 ? ' (everything was there already)' : '';
  process.stdout.write(
    `\nDone in ${took} s${nothing}: ${summary.rooms.total} rooms (${summary.rooms.created} new), ` +
      `${summary.messages.total} messages (${summary.messages.created} new), ${summary.changes} reactions, edits, pins and reads.\n\n` +
      `Open ${baseUrl}/ and sign in with User ID "${DEMO_USER.id}", Name "${DEMO_USER.name}"` +
      ` and Businesses "${DEMO_USER.businessIds!.join(',')}".\n` +
      `For the support queue: User ID "${DEMO_STAFF.id}", Name "${DEMO_STAFF.name}", Role support.\n` +
      `The others: ${USERS.filter((u) => u !== DEMO_USER && u !== DEMO_STAFF)
        .map((u) => `${u.id} (${u.name}${u.role ? `, ${u.role}` : ''})`)
        .join(', ')}.\nGive the name too: the service keeps the name of each person's latest sign-in.\n` +
      `Without the development sign-in (NODE_ENV=production): ` +
      `${baseUrl}/#token=$(npm run -s token -- ${DEMO_USER.id} --name "${DEMO_USER.name}")\n`,
  );
}

main().catch((err: Error) => {
  process.stderr.write((err instanceof SeedError || err.name === 'ConfigError' ? err.message : (err.stack ?? err.message)) + '\n');
  process.exit(1);
});
