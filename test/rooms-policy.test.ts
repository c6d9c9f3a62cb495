import { describe, expect, it } from 'vitest';
import type { UserRole } from '../src/auth/tokens.js';
import { AppError } from '../src/errors.js';
import { abilitiesOf, authorize, can, decide, type Actor, type RoomAction } from '../src/rooms/rooms.policy.js';
import type { RoomRow } from '../src/rooms/rooms.repository.js';

// The table on its own, for the rules whose endpoints come with wave 2 (pins, deletes, slow mode): the Room's abilities
// already promise them, so they are pinned down here, as API.md words them.

const room = (type: RoomRow['type'], extra: Partial<RoomRow> = {}): RoomRow =>
  ({ id: 'r', type, createdBy: 'user', status: type === 'support' ? 'open' : null, ...extra }) as RoomRow;
const actor = (userId: string, role: UserRole, participantRole: string | null): Actor => ({
  userId,
  role,
  participant: participantRole ? { userId, role: participantRole } : null,
});

const owner = actor('owner', 'user', 'owner');
const admin = actor('admin', 'user', 'admin');
const member = actor('member', 'user', 'member');
const stranger = actor('stranger', 'user', null);
const staffReader = actor('staff', 'support', null);
const agent = actor('agent', 'support', 'agent');
const platformAdmin = actor('root', 'admin', null);
const supportUser = actor('user', 'user', 'member');

describe('delete a message', () => {
  const del = (a: Actor, r: RoomRow, senderId: string) => decide(a, 'delete-message', r, { userId: senderId })?.code ?? 'ALLOWED';

  it('by its sender, owners and admins of group and business rooms; other members 403', () => {
    for (const type of ['group', 'business'] as const) {
      expect(del(member, room(type), 'member')).toBe('ALLOWED');
      expect(del(member, room(type), 'owner')).toBe('FORBIDDEN');
      expect(del(owner, room(type), 'member')).toBe('ALLOWED');
      expect(del(admin, room(type), 'owner')).toBe('ALLOWED');
    }
    expect(del(member, room('direct'), 'other')).toBe('FORBIDDEN');
    expect(del(member, room('direct'), 'member')).toBe('ALLOWED');
  });

  it('by staff in a support room, joined or not; the room’s user only their own', () => {
    expect(del(staffReader, room('support'), 'user')).toBe('ALLOWED');
    expect(del(agent, room('support'), 'user')).toBe('ALLOWED');
    expect(del(supportUser, room('support'), 'agent')).toBe('FORBIDDEN');
    expect(del(supportUser, room('support'), 'user')).toBe('ALLOWED');
    // Staff are no moderators outside support rooms.
    expect(del(actor('staff', 'support', 'member'), room('group'), 'member')).toBe('FORBIDDEN');
    expect(del(staffReader, room('group'), 'member')).toBe('NOT_FOUND');
  });

  it('by a platform admin in any room, even one they are not in; anyone else outside it is told NOT_FOUND', () => {
    for (const type of ['direct', 'group', 'business', 'support'] as const) {
      expect(del(platformAdmin, room(type), 'member')).toBe('ALLOWED');
      expect(del(stranger, room(type), 'member')).toBe('NOT_FOUND');
      // Even their own old message: a room one cannot read is not found before anything is forbidden.
      expect(del(stranger, room(type), 'stranger')).toBe('NOT_FOUND');
    }
  });
});

describe('pin and unpin', () => {
  it('any participant of a direct or support room; owners and admins of group and business rooms', () => {
    expect(can(member, 'pin', room('direct'))).toBe(true);
    expect(can(supportUser, 'pin', room('support'))).toBe(true);
    expect(can(agent, 'pin', room('support'))).toBe(true);
    expect(decide(staffReader, 'pin', room('support'))?.code).toBe('FORBIDDEN');
    for (const type of ['group', 'business'] as const) {
      expect(can(owner, 'pin', room(type))).toBe(true);
      expect(can(admin, 'pin', room(type))).toBe(true);
      expect(decide(member, 'pin', room(type))?.code).toBe('FORBIDDEN');
      expect(decide(stranger, 'pin', room(type))?.code).toBe('NOT_FOUND');
      expect(decide(platformAdmin, 'pin', room(type))?.code).toBe('NOT_FOUND');
    }
  });
});

describe('slow mode', () => {
  it('is set by owners and admins of group and business rooms; elsewhere it does not apply (400)', () => {
    expect(can(owner, 'set-slow-mode', room('group'))).toBe(true);
    expect(can(admin, 'set-slow-mode', room('business'))).toBe(true);
    expect(decide(member, 'set-slow-mode', room('group'))?.code).toBe('FORBIDDEN');
    expect(decide(member, 'set-slow-mode', room('direct'))).toMatchObject({ code: 'VALIDATION_FAILED', path: '/slowModeS' });
    expect(decide(agent, 'set-slow-mode', room('support'))?.code).toBe('VALIDATION_FAILED');
  });

  it('holds back members only: owners, admins and staff are exempt', () => {
    expect(can(owner, 'exempt-slow-mode', room('group'))).toBe(true);
    expect(can(admin, 'exempt-slow-mode', room('group'))).toBe(true);
    expect(can(actor('staff', 'support', 'member'), 'exempt-slow-mode', room('group'))).toBe(true);
    expect(can(actor('root', 'admin', 'member'), 'exempt-slow-mode', room('group'))).toBe(true);
    expect(can(member, 'exempt-slow-mode', room('group'))).toBe(false);
  });
});

describe('the table as a whole', () => {
  const actions: RoomAction[] = [
    'read',
    'send',
    'join-live',
    'update',
    'set-status',
    'add-participants',
    'remove-participant',
    'leave',
    'pin',
    'set-slow-mode',
    'exempt-slow-mode',
  ];

  it('hides a room from whoever cannot read it, for every action (NOT_FOUND before FORBIDDEN)', () => {
    for (const type of ['direct', 'group', 'business', 'support'] as const) {
      for (const action of actions) {
        expect(decide(stranger, action, room(type), { userId: 'member', role: 'member' }), `${type} ${action}`).toEqual({
          code: 'NOT_FOUND',
          detail: 'Room not found',
        });
      }
      expect(abilitiesOf(stranger, room(type), new Set(['member']))).toEqual([]);
    }
  });

  it('throws the refusal as the AppError the endpoints answer with, field included', () => {
    const refusal = (() => {
      try {
        authorize(owner, 'set-status', room('group'));
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(refusal).toBeInstanceOf(AppError);
    expect(refusal).toMatchObject({
      code: 'VALIDATION_FAILED',
      status: 400,
      message: 'status applies to support rooms only',
      errors: [{ path: '/status', message: 'status applies to support rooms only' }],
    });
    expect(() => authorize(owner, 'update', room('group'))).not.toThrow();
  });

  it('lets staff reopen a closed support room only while its user is still in it', () => {
    const closed = room('support', { status: 'closed' });
    expect(abilitiesOf(staffReader, closed, new Set(['user']))).toContain('reopen-room');
    expect(abilitiesOf(staffReader, closed, new Set(['agent']))).not.toContain('reopen-room');
    expect(abilitiesOf(staffReader, closed, new Set(['user']))).not.toContain('close-room');
  });
});
