-- Reactions off chat_message's indexes. A reaction moved the message's change_seq, which the change log's index
-- held, so each reaction wrote a new version of the row into every index holding it, the two text indexes' pending
-- lists with the message's whole text included. The log now finds a message by base_change_seq, which only the writes
-- that change indexed columns anyway move (send, edit, delete, pin); a reaction moves change_seq alone, which
-- PostgreSQL can write as a HOT update, and lists the message in chat_message_change (messages/change-index.ts).
CREATE TABLE "chat_message_change" (
	"message_id" uuid PRIMARY KEY NOT NULL,
	"room_id" uuid NOT NULL,
	"change_seq" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "chat_message_change" ADD CONSTRAINT "chat_message_change_room_id_chat_room_id_fk" FOREIGN KEY ("room_id") REFERENCES "public"."chat_room"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "chat_message_change_room_idx" ON "chat_message_change" USING btree ("room_id","change_seq");--> statement-breakpoint
-- Every row's base_change_seq is its change_seq: a computed column makes ALTER TABLE rewrite the table once (and
-- build its indexes again), where an UPDATE would write a new version of every row into every index.
ALTER TABLE "chat_message" ADD COLUMN "base_change_seq" bigint GENERATED ALWAYS AS ("change_seq") STORED;--> statement-breakpoint
ALTER TABLE "chat_message" ALTER COLUMN "base_change_seq" DROP EXPRESSION;--> statement-breakpoint
ALTER TABLE "chat_message" ALTER COLUMN "base_change_seq" SET DEFAULT 0;--> statement-breakpoint
ALTER TABLE "chat_message" ALTER COLUMN "base_change_seq" SET NOT NULL;--> statement-breakpoint
CREATE INDEX "chat_message_base_change_idx" ON "chat_message" USING btree ("room_id","base_change_seq");--> statement-breakpoint
DROP INDEX "chat_message_change_idx";
