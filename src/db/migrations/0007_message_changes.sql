CREATE TABLE "chat_message_edit" (
	"id" uuid PRIMARY KEY NOT NULL,
	"message_id" uuid NOT NULL,
	"content" text NOT NULL,
	"mentions" text[] NOT NULL,
	"edited_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "chat_reaction" (
	"message_id" uuid NOT NULL,
	"emoji" text NOT NULL,
	"user_id" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "chat_reaction_message_id_emoji_user_id_pk" PRIMARY KEY("message_id","emoji","user_id")
);
--> statement-breakpoint
CREATE TABLE "media_garbage" (
	"storage_key" text PRIMARY KEY NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "chat_message" ADD COLUMN "deleted_by" text;--> statement-breakpoint
ALTER TABLE "chat_message" ADD COLUMN "change_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "chat_message" ADD COLUMN "pinned_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "chat_message" ADD COLUMN "pinned_by" text;--> statement-breakpoint
ALTER TABLE "chat_message" ADD COLUMN "reactions" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "chat_room" ADD COLUMN "last_change_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "chat_room" ADD COLUMN "pinned_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Until now each message had one change, its creation, in seq order: so change_seq = seq is dense and in order.
UPDATE "chat_message" SET "change_seq" = "seq";--> statement-breakpoint
UPDATE "chat_room" SET "last_change_seq" = "last_seq";--> statement-breakpoint
ALTER TABLE "chat_message_edit" ADD CONSTRAINT "chat_message_edit_message_id_chat_message_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."chat_message"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_reaction" ADD CONSTRAINT "chat_reaction_message_id_chat_message_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."chat_message"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "chat_message_edit_message_idx" ON "chat_message_edit" USING btree ("message_id","edited_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "chat_reaction_listing_idx" ON "chat_reaction" USING btree ("message_id","created_at","emoji","user_id");--> statement-breakpoint
CREATE INDEX "chat_reaction_user_idx" ON "chat_reaction" USING btree ("user_id","message_id");--> statement-breakpoint
CREATE INDEX "media_garbage_due_idx" ON "media_garbage" USING btree ("next_attempt_at");--> statement-breakpoint
CREATE INDEX "chat_message_change_idx" ON "chat_message" USING btree ("room_id","change_seq");--> statement-breakpoint
CREATE INDEX "chat_message_pinned_idx" ON "chat_message" USING btree ("room_id","pinned_at" DESC NULLS LAST,"id" DESC NULLS LAST) WHERE "chat_message"."pinned_at" is not null;--> statement-breakpoint
CREATE INDEX "chat_message_deleted_idx" ON "chat_message" USING btree ("room_id","seq") WHERE "chat_message"."deleted_at" is not null;