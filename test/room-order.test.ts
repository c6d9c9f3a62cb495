import { describe, expect, it } from 'vitest';
import { ChangeOrder, RoomOrder } from '../src/realtime/room-order.js';

const later = <T>(ms: number, value?: T) => new Promise<T | undefined>((resolve) => setTimeout(() => resolve(value), ms));

describe('RoomOrder', () => {
  it('runs an emit at once, synchronously, when its room has nothing in flight', () => {
    const order = new RoomOrder(() => {});
    const seen: string[] = [];
    order.run('r', () => seen.push('a'));
    order.run('r', () => seen.push('b'));
    expect(seen).toEqual(['a', 'b']);
  });

  it('holds later emits of a room until an asynchronous one has gone out, whatever their own speed', async () => {
    const order = new RoomOrder(() => {});
    const seen: string[] = [];
    order.run('r', () => later(30).then(() => seen.push('slow broadcast')));
    order.run('r', () => seen.push('new_message'));
    order.run('r', () => later(1).then(() => seen.push('quick broadcast')));
    // Another room is not held back by this one.
    order.run('other', () => seen.push('other room'));
    expect(seen).toEqual(['other room']);
    await later(60);
    expect(seen).toEqual(['other room', 'slow broadcast', 'new_message', 'quick broadcast']);
  });

  it('reports a failed emit and goes on with the next ones', async () => {
    const errors: unknown[] = [];
    const order = new RoomOrder((err) => errors.push(err));
    const seen: string[] = [];
    order.run('r', () => later(5).then(() => Promise.reject(new Error('redis down'))));
    order.run('r', () => {
      throw new Error('sync failure');
    });
    order.run('r', () => seen.push('after'));
    await later(20);
    expect(seen).toEqual(['after']);
    expect(errors.map((e) => (e as Error).message)).toEqual(['redis down', 'sync failure']);
  });

  it('forgets a room once its queue is empty, so the next emit is synchronous again', async () => {
    const order = new RoomOrder(() => {});
    order.run('r', () => later(5));
    await later(20);
    const seen: string[] = [];
    order.run('r', () => seen.push('now'));
    expect(seen).toEqual(['now']);
  });
});

describe('ChangeOrder', () => {
  const setup = (waitMs = 40) => {
    const seen: string[] = [];
    const order = new ChangeOrder(new RoomOrder(() => {}), waitMs);
    const submit = (room: string, changeSeq: number) => order.submit(room, changeSeq, () => seen.push(`${room}:${changeSeq}`));
    return { seen, order, submit };
  };

  it('releases a room’s changes in changeSeq order whatever order they were published in', () => {
    const { seen, order, submit } = setup();
    submit('r', 10);
    submit('r', 12);
    submit('r', 13);
    submit('s', 5);
    expect(seen).toEqual(['r:10', 's:5']);
    submit('r', 11);
    expect(seen).toEqual(['r:10', 's:5', 'r:11', 'r:12', 'r:13']);
    order.close();
  });

  it('lets a late or repeated change through at once, and stops waiting for a change that never comes', async () => {
    const { seen, order, submit } = setup();
    submit('r', 1);
    submit('r', 3);
    submit('r', 4);
    expect(seen).toEqual(['r:1']);
    await later(60);
    expect(seen).toEqual(['r:1', 'r:3', 'r:4']);
    submit('r', 2);
    submit('r', 4);
    expect(seen).toEqual(['r:1', 'r:3', 'r:4', 'r:2', 'r:4']);
    // The next gap waits afresh.
    submit('r', 7);
    submit('r', 5);
    expect(seen.slice(5)).toEqual(['r:5']);
    await later(60);
    expect(seen.slice(5)).toEqual(['r:5', 'r:7']);
    order.close();
  });

  it('releases what still waits, in order, when closed', () => {
    const { seen, order, submit } = setup(10_000);
    submit('r', 1);
    submit('r', 5);
    submit('r', 3);
    order.close();
    expect(seen).toEqual(['r:1', 'r:3', 'r:5']);
  });
});
