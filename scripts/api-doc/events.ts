/**
 * The Socket.IO events for docs/api.md. Payloads come from the TypeBox schemas of the event map
 * (ClientEventSchemas, ServerEventSchemas); what a client event's ack carries, whether a server event asks for an
 * acknowledgement, and each event's doc comment come from the typed interfaces beside them, read with the TypeScript
 * compiler, so nothing about an event is written twice.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { ClientEventSchemas, ServerEventSchemas } from '../../src/contract/events.js';
import type { Schema } from './shape.js';

export interface EventDoc {
  name: string;
  doc: string;
  payload: Schema;
  /** Client events: what the ack's `data` is (a component name, or `null`). */
  ackData?: string;
  /** Server events: the client should call the acknowledgement it is given. */
  acked?: boolean;
}

/** Type names of the interfaces, as the components the reference describes. */
const COMPONENT_OF: Record<string, string> = { MessageView: 'Message', RoomView: 'Room', ReadState: 'ReadState', null: 'null' };

/**
 * What an event does, where its interface member has no doc comment, or one that speaks for a group (edit_message's
 * covers the six change events). Every event needs one or the other: a new event without either stops the generator.
 */
const ABOUT: Record<string, string> = {
  send_message:
    'Send a message, as `POST /rooms/{id}/messages` (JSON); `mediaIds` come from `POST /rooms/{id}/media`. A repeated `clientMessageId` acks the stored message. The room gets `new_message`.',
  typing_start:
    "The others in the room (not the typist's own sockets) get `user_typing` with `isTyping: true`; a start not renewed within `TYPING_TIMEOUT_MS` ends with `isTyping: false`.",
  typing_stop: 'The others in the room get `user_typing` with `isTyping: false`.',
  mark_as_read:
    'As `PATCH /messages/{id}/read`, or `PATCH /rooms/{id}/read` without `messageId`. The room gets `message_read` when the position moves forward.',
  join_chat:
    'Start live events of one room on this socket again (after `leave_chat`); membership does not change. Refused for a room the user is not in (staff join a support room by adding themselves).',
  leave_chat: 'Stop live events of one room on this socket; membership does not change.',
  edit_message: 'As `PATCH /messages/{id}`; the room gets `message_updated`.',
  delete_message: 'As `DELETE /messages/{id}`; acks the tombstone, and the room gets `message_deleted`.',
  add_reaction: 'As `PUT /messages/{id}/reactions/{emoji}`; the room gets `reaction_updated`.',
  remove_reaction: 'As `DELETE /messages/{id}/reactions/{emoji}`; the room gets `reaction_updated`.',
  pin_message: 'As `PUT /rooms/{id}/pins/{messageId}`; the room gets `message_updated`.',
  unpin_message: 'As `DELETE /rooms/{id}/pins/{messageId}`; the room gets `message_updated`.',
  reaction_updated:
    "A reaction was added or removed: `count` is that emoji's count now, and `reactions` the message's whole list after the change, so clients never reorder by hand.",
  user_typing: 'Someone else in a room started or stopped typing.',
  message_read: "A participant's read position moved forward (after a read mark over REST or the socket).",
  user_online: 'Someone who shares a room with you connected their first socket (never for users who hide their presence).',
  user_offline: "Someone's last socket has been gone for `PRESENCE_GRACE_MS`; `lastSeenAt` is when it left.",
  room_created: 'A room you are in was created, as you see it.',
  room_updated: 'A room you are in changed (name, description, status, roles, slow mode), as you see it.',
  participant_added: 'Someone joined a room, to every participant, the new one included.',
  participant_removed: 'Someone left or was removed, to the remaining participants and to the removed user.',
};

interface Signature {
  doc: string;
  params: { name: string; type: string }[];
}

function signatures(source: ts.SourceFile, interfaceName: string): Map<string, Signature> {
  const found = new Map<string, Signature>();
  const visit = (node: ts.Node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === interfaceName) {
      for (const member of node.members) {
        if (!ts.isPropertySignature(member) || !member.type || !ts.isFunctionTypeNode(member.type)) continue;
        const name = member.name.getText(source).replace(/^['"]|['"]$/g, '');
        const doc = ts
          .getJSDocCommentsAndTags(member)
          .map((d) => ts.getTextOfJSDocComment(d.comment) ?? '')
          .join(' ');
        const params = member.type.parameters.map((p) => ({ name: p.name.getText(source), type: p.type?.getText(source) ?? 'unknown' }));
        found.set(name, { doc: doc.replace(/\s+/g, ' ').trim(), params });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (!found.size) throw new Error(`api-doc: interface ${interfaceName} not found in the event map`);
  return found;
}

/** The interface and the schema map must name the same events, or one of them is out of date. */
function sameNames(what: string, schemas: object, sigs: Map<string, Signature>): void {
  const a = Object.keys(schemas).sort().join(', ');
  const b = [...sigs.keys()].sort().join(', ');
  if (a !== b) throw new Error(`api-doc: ${what}: the schemas name ${a}, the interface ${b}`);
}

function about(name: string, sig: Signature): string {
  const text = ABOUT[name] ?? sig.doc;
  if (!text) throw new Error(`api-doc: say what ${name} does (a doc comment in src/contract/events.ts)`);
  return text;
}

export function readEvents(eventsFile: string): { client: EventDoc[]; server: EventDoc[] } {
  const source = ts.createSourceFile(eventsFile, readFileSync(eventsFile, 'utf8'), ts.ScriptTarget.Latest, true);
  const clientSigs = signatures(source, 'ClientToServerEvents');
  const serverSigs = signatures(source, 'ServerToClientEvents');
  sameNames('client events', ClientEventSchemas, clientSigs);
  sameNames('server events', ServerEventSchemas, serverSigs);

  const client = Object.entries(ClientEventSchemas).map(([name, payload]): EventDoc => {
    const sig = clientSigs.get(name)!;
    const ack = sig.params[1]?.type.match(/^Ack<(.+)>$/)?.[1];
    if (!ack || !COMPONENT_OF[ack]) throw new Error(`api-doc: ${name}: cannot tell what its ack carries (${sig.params[1]?.type})`);
    return { name, doc: about(name, sig), payload: payload as unknown as Schema, ackData: COMPONENT_OF[ack] };
  });
  const server = Object.entries(ServerEventSchemas).map(([name, payload]): EventDoc => {
    const sig = serverSigs.get(name)!;
    return { name, doc: about(name, sig), payload: payload as unknown as Schema, acked: sig.params.length > 1 };
  });
  return { client, server };
}
