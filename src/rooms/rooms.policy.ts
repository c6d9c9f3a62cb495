// Every role rule of a room, once: services, the access guard (and through it the socket gateway) and the abilities a
// Room shows its viewer all ask `decide`/`can`/`authorize` here, so a rule changed here changes everywhere at once.
import type { AuthContext, UserRole } from '../auth/tokens.js';
import type { ErrorCode } from '../contract/errors.js';
import { AppError } from '../errors.js';
import type { ParticipantRow, RoomRow } from './rooms.repository.js';
import { ABILITIES, type Ability } from '../contract/rooms.js';

/** Who acts: their platform role (from the token) and their part in the room (null when not in it). */
export interface Actor {
  userId: string;
  role: UserRole;
  participant: Pick<ParticipantRow, 'userId' | 'role'> | null;
}

/** Whom an action is about: the participant being removed, or the sender of a message being deleted. */
export interface Target {
  userId: string;
  role?: string;
}

export type RoomAction =
  | 'read'
  | 'send'
  | 'join-live'
  | 'update'
  | 'set-status'
  | 'add-participants'
  | 'remove-participant'
  | 'leave'
  | 'pin'
  | 'react'
  | 'edit-message'
  | 'delete-message'
  | 'set-slow-mode'
  | 'exempt-slow-mode';

/** Why an action is refused, as the caller is told: the code and detail of the AppError `authorize` throws. */
export interface Denial {
  code: Extract<ErrorCode, 'NOT_FOUND' | 'FORBIDDEN' | 'VALIDATION_FAILED'>;
  detail: string;
  path?: string;
}

type Verdict = Denial | null;
type Rule = (actor: Actor, room: RoomRow, target: Target | null | undefined) => Verdict;

const ALLOW: Verdict = null;
const forbid = (detail: string): Denial => ({ code: 'FORBIDDEN', detail });
const invalid = (detail: string, path?: string): Denial => ({ code: 'VALIDATION_FAILED', detail, ...(path ? { path } : {}) });
/** A room the actor cannot read answers exactly as one that does not exist: nobody learns which ids exist. */
const HIDDEN = Object.freeze<Denial>({ code: 'NOT_FOUND', detail: 'Room not found' });

/** Support staff: `support` and `admin` tokens (a stored role may be any string). */
export const isStaffRole = (role: string | null): role is 'support' | 'admin' => role === 'support' || role === 'admin';
const staff = (a: Actor) => isStaffRole(a.role);
const manager = (a: Actor) => a.participant?.role === 'owner' || a.participant?.role === 'admin';
const readable = (a: Actor, room: RoomRow) => a.participant !== null || (room.type === 'support' && staff(a));
const grouped = (room: RoomRow) => room.type === 'group' || room.type === 'business';

/** The support room's own user or staff; everyone else in it (a demoted former agent) is refused. */
const supportUserOrStaff = (a: Actor, room: RoomRow): Verdict =>
  room.createdBy === a.userId || staff(a) ? ALLOW : forbid('only the room’s user or support staff can change a support room');

/** The table. Each rule first hides a room the actor cannot read (NOT_FOUND before FORBIDDEN), except where noted. */
const RULES: Record<RoomAction, Rule> = {
  // Staff may read any support room without joining it.
  read: (a, room) => (readable(a, room) ? ALLOW : HIDDEN),
  // Participants only: staff join a support room by adding themselves, and until then it is not found for these.
  send: (a) => (a.participant ? ALLOW : HIDDEN),
  'join-live': (a) => (a.participant ? ALLOW : HIDDEN),

  update: (a, room) => {
    if (!readable(a, room)) return HIDDEN;
    if (room.type === 'direct') return invalid('direct rooms cannot be changed');
    if (room.type === 'support') return supportUserOrStaff(a, room);
    return manager(a) ? ALLOW : forbid('only owners and admins can change this room');
  },
  'set-status': (a, room) => {
    if (!readable(a, room)) return HIDDEN;
    if (room.type === 'direct') return invalid('direct rooms cannot be changed');
    if (room.type !== 'support') return invalid('status applies to support rooms only', '/status');
    return supportUserOrStaff(a, room);
  },

  'add-participants': (a, room) => {
    if (!readable(a, room)) return HIDDEN;
    if (room.type === 'direct') return invalid('participants cannot be added to a direct room');
    if (room.type === 'support') return staff(a) ? ALLOW : forbid('only support staff can join a support room');
    return manager(a) ? ALLOW : forbid('only owners and admins can add participants');
  },
  // target: the participant row of the user to remove, null when that user is not in the room.
  'remove-participant': (a, room, target) => {
    if (!readable(a, room)) return HIDDEN;
    if (room.type === 'direct') return invalid('nobody can be removed from a direct room');
    if (!target) return { code: 'NOT_FOUND', detail: 'Participant not found' };
    // The room's user is never removed by staff: they leave, which closes the room.
    if (room.type === 'support') return staff(a) && target.role === 'agent' ? ALLOW : forbid('support staff can remove agents only');
    if (!manager(a)) return forbid('only owners and admins can remove others');
    if (a.participant!.role === 'admin' && target.role !== 'member') return forbid('admins can remove members only');
    return ALLOW;
  },
  leave: (a, room) => {
    if (!readable(a, room)) return HIDDEN;
    if (room.type === 'direct') return invalid('nobody can be removed from a direct room');
    return a.participant ? ALLOW : { code: 'NOT_FOUND', detail: 'Participant not found' };
  },

  // Pin and unpin alike. Everyone in a direct or support room; owners and admins of a group or business room.
  pin: (a, room) => {
    if (!readable(a, room)) return HIDDEN;
    if (grouped(room)) return manager(a) ? ALLOW : forbid('only owners and admins can pin messages in this room');
    return a.participant ? ALLOW : forbid('join the room to pin its messages');
  },
  // Reacting is taking part: participants; staff reading a support room join it first.
  react: (a, room) => {
    if (!readable(a, room)) return HIDDEN;
    return a.participant ? ALLOW : forbid('join the room to react to its messages');
  },
  // target: the message's sender. Only they may put other words in their mouth.
  'edit-message': (a, room, target) => {
    if (!readable(a, room)) return HIDDEN;
    return target && target.userId === a.userId ? ALLOW : forbid('only its sender can edit a message');
  },
  // target: the message's sender.
  'delete-message': (a, room, target) => {
    // A platform admin deletes in any room, readable or not (the API contract, "Safety and integrations").
    if (a.role === 'admin') return ALLOW;
    if (!readable(a, room)) return HIDDEN;
    if (target && target.userId === a.userId) return ALLOW;
    // Staff in a support room, joined or not.
    if (room.type === 'support' && staff(a)) return ALLOW;
    if (grouped(room) && manager(a)) return ALLOW;
    return forbid('only its sender, the room’s owners and admins, or staff can delete this message');
  },

  'set-slow-mode': (a, room) => {
    if (!readable(a, room)) return HIDDEN;
    if (!grouped(room)) return invalid('slow mode applies to group and business rooms only', '/slowModeS');
    return manager(a) ? ALLOW : forbid('only owners and admins can set slow mode');
  },
  'exempt-slow-mode': (a, room) => {
    if (!readable(a, room)) return HIDDEN;
    return manager(a) || staff(a) ? ALLOW : forbid('slow mode applies to members');
  },
};

/** The refusal of `action`, or null when it is allowed. */
export function decide(actor: Actor, action: RoomAction, room: RoomRow, target?: Target | null): Denial | null {
  return RULES[action](actor, room, target);
}

export function can(actor: Actor, action: RoomAction, room: RoomRow, target?: Target | null): boolean {
  return decide(actor, action, room, target) === null;
}

/** Throws the refusal of `action` as the AppError callers answer with (same code, detail and field as always). */
export function authorize(actor: Actor, action: RoomAction, room: RoomRow, target?: Target | null): void {
  const denial = decide(actor, action, room, target);
  if (!denial) return;
  throw new AppError(denial.code, denial.detail, denial.path ? { errors: [{ path: denial.path, message: denial.detail }] } : {});
}

/** Rules that come before any room: who sees the support queue, who opens a room for a business. */
export function authorizeSupportQueue(auth: Pick<AuthContext, 'role'>): void {
  if (!isStaffRole(auth.role)) throw new AppError('FORBIDDEN', 'the support queue is for support staff');
}
export function authorizeBusiness(auth: Pick<AuthContext, 'businessIds'>, businessId: string): void {
  if (!auth.businessIds.includes(businessId)) throw new AppError('FORBIDDEN', 'you do not belong to that business');
}

export function actorOf(auth: Pick<AuthContext, 'userId' | 'role'>, participant: Actor['participant']): Actor {
  return { userId: auth.userId, role: auth.role, participant };
}

/** No user has the empty id (ids are 1–128 characters), so it stands for "someone else" in a hypothetical target. */
const SOMEONE_ELSE = '';
const TARGET_ROLES = ['member', 'agent', 'admin', 'owner'] as const;

/** Each ability, in terms of the table above. */
const ABILITY_RULES: Record<Ability, (a: Actor, room: RoomRow, memberIds: ReadonlySet<string>) => boolean> = {
  'send-message': (a, room) => can(a, 'send', room),
  'update-room': (a, room) => can(a, 'update', room),
  'close-room': (a, room) => room.status === 'open' && can(a, 'set-status', room),
  // A room whose user has left stays closed (reopening is 409): no point offering it.
  'reopen-room': (a, room, memberIds) => room.status === 'closed' && memberIds.has(room.createdBy) && can(a, 'set-status', room),
  'add-participants': (a, room) => can(a, 'add-participants', room),
  // May remove someone: admins members only, staff in a support room agents only.
  'remove-participants': (a, room) => TARGET_ROLES.some((role) => can(a, 'remove-participant', room, { userId: SOMEONE_ELSE, role })),
  'leave-room': (a, room) => can(a, 'leave', room),
  'pin-message': (a, room) => can(a, 'pin', room),
  'delete-own-message': (a, room) => can(a, 'send', room) && can(a, 'delete-message', room, { userId: a.userId }),
  'delete-any-message': (a, room) => can(a, 'delete-message', room, { userId: SOMEONE_ELSE }),
  'set-slow-mode': (a, room) => can(a, 'set-slow-mode', room),
  // Only meaningful to someone who may send.
  'skip-slow-mode': (a, room) => can(a, 'send', room) && can(a, 'exempt-slow-mode', room),
};

/** The abilities of `actor` in `room`, whose participants are `memberIds`; none when the room is hidden from them. */
export function abilitiesOf(actor: Actor, room: RoomRow, memberIds: ReadonlySet<string>): Ability[] {
  if (!can(actor, 'read', room)) return [];
  return ABILITIES.filter((ability) => ABILITY_RULES[ability](actor, room, memberIds));
}
