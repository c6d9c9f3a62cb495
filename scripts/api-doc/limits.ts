/**
 * The limits a client meets, for docs/api.md: fixed ones read from the constants the code enforces, configurable
 * ones with the default the configuration reads. Field-level bounds (lengths, item counts) are in the shapes.
 */
import { PageLimit } from '../../src/contract/common.js';
import { MAX_CONTENT_CODE_POINTS, REPLY_PREVIEW_CODE_POINTS } from '../../src/contract/messages.js';
import { MAX_PINS_PER_ROOM } from '../../src/contract/pins.js';
import { MAX_REACTION_KEYS_PER_MESSAGE } from '../../src/contract/reactions.js';
import { MAX_REPORT_DETAILS } from '../../src/contract/reports.js';
import { MAX_WEBHOOK_URL_LENGTH } from '../../src/contract/webhooks.js';
import { PENDING_TTL_MS } from '../../src/media/media.service.js';
import { MAX_MESSAGE_IDS } from '../../src/notifications/notifications.repository.js';
import { MAX_SUBSCRIPTIONS_PER_USER } from '../../src/notifications/notifications.service.js';
import { SNIPPET_CODE_POINTS } from '../../src/search/highlight.js';
import { MAX_INFIX_TERMS, MAX_TERMS, MIN_INFIX_CODE_POINTS } from '../../src/search/query.js';
import { describeEnv } from './env.js';

const FIXED: [number | string, string][] = [
  [MAX_CONTENT_CODE_POINTS, 'Unicode code points in a message (more: 400)'],
  [REPLY_PREVIEW_CODE_POINTS, 'code points of a parent message quoted in `replyTo.content`'],
  [MAX_REACTION_KEYS_PER_MESSAGE, 'different emoji on one message (one more: 409; an emoji already there may always be added)'],
  [MAX_PINS_PER_ROOM, 'pinned messages in a room (one more: 409)'],
  [`${PageLimit.maximum} (default ${PageLimit.default})`, 'items in a page of a keyset-paged list (`?limit=`)'],
  [MAX_TERMS, 'terms in a search (more: 400)'],
  [MAX_INFIX_TERMS, `of them partial words (unquoted words of ${MIN_INFIX_CODE_POINTS} or more characters, matched inside words)`],
  [SNIPPET_CODE_POINTS, 'code points, about, in a search hit’s snippet'],
  [MAX_REPORT_DETAILS, 'characters of a report’s `details`'],
  [MAX_SUBSCRIPTIONS_PER_USER, 'Web Push subscriptions kept per user (registering one more drops the least recently registered)'],
  [MAX_MESSAGE_IDS, '`messageIds` in one offline notification (the latest; `count` counts them all)'],
  [MAX_WEBHOOK_URL_LENGTH, 'characters of an outgoing webhook URL'],
  [`${PENDING_TTL_MS / 60_000} min`, 'how long an upload not yet sent in a message is kept'],
];

/** Variables whose default is a limit a client meets, and what it limits. */
const CONFIGURABLE: [string, string][] = [
  ['RATE_LIMIT_WRITES_PER_MINUTE', 'writes per user per minute, REST and socket together (429 with `Retry-After`)'],
  ['RATE_LIMIT_SEARCHES_PER_MINUTE', 'searches per user per minute (429), one at a time per user'],
  ['SEARCH_TIMEOUT_MS', 'milliseconds a search may run (503 with `Retry-After`)'],
  ['RATE_LIMIT_JOINS_PER_MINUTE', '`join_chat` / `leave_chat` per user per minute'],
  ['MAX_SOCKETS_PER_USER', 'live sockets per user (one more: `connect_error` `RATE_LIMITED`)'],
  ['BODY_LIMIT_BYTES', 'bytes of a JSON request body (413)'],
  ['SOCKET_MAX_PAYLOAD_BYTES', 'bytes of one Socket.IO message (a larger one closes the connection)'],
  ['MEDIA_MAX_FILE_BYTES', 'bytes of an uploaded file (413)'],
  ['MEDIA_MAX_FILES', 'files in one message or upload (413)'],
  ['MEDIA_MAX_PIXELS', 'pixels of an image (413)'],
  ['MEDIA_URL_TTL_S', 'seconds a signed media URL works'],
  ['MESSAGE_EDIT_WINDOW_S', 'seconds after sending a message may be edited (0: always; past it 403)'],
  ['TYPING_TIMEOUT_MS', 'milliseconds a `typing_start` lasts unless renewed'],
  ['PRESENCE_GRACE_MS', 'milliseconds between a user’s last socket leaving and `user_offline`'],
  ['SOCKET_RECOVERY_WINDOW_MS', 'milliseconds a dropped socket’s session can be recovered'],
];

export function renderLimits(root: string): string {
  const env = new Map(describeEnv(root).map((v) => [v.name, v]));
  const fixed = FIXED.map(([value, what]) => `| ${typeof value === 'number' ? value.toLocaleString('en-US') : value} | ${what} |`);
  const configurable = CONFIGURABLE.map(([name, what]) => {
    const v = env.get(name);
    if (!v) throw new Error(`api-doc: the limits name ${name}, which src/config does not read`);
    return `| \`${name}\` | ${v.default} | ${what} |`;
  });
  return [
    '| limit | of what |',
    '|---|---|',
    ...fixed,
    '',
    'Set by the operator (see [environment variables](#environment-variables)):',
    '',
    '| variable | default | of what |',
    '|---|---|---|',
    ...configurable,
  ].join('\n');
}
