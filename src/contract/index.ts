/** The public contract of the service: every REST and socket shape, and the error catalogue. Imports nothing but TypeBox. */
export * from './common.js';
export * from './components.js';
export * from './errors.js';
export * from './media.js';
export * from './messages.js';
export * from './notifications.js';
export * from './pins.js';
export * from './presence.js';
export * from './reactions.js';
export * from './reads.js';
export * from './rooms.js';
export * from './search.js';
export * from './users.js';
export * from './events.js';
