CREATE TABLE "chat_message" (
	"id" uuid PRIMARY KEY NOT NULL,
	"room_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"sender_id" text NOT NULL,
	"type" text NOT NULL,
	"content" text NOT NULL,
	"mentions" text[] DEFAULT '{}'::text[] NOT NULL,
	"reply_to_seq" bigint,
	"client_message_id" text,
	"has_media" boolean DEFAULT false NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"edited_at" timestamp (3) with time zone,
	"deleted_at" timestamp (3) with time zone,
	"search_doc" "tsvector" NOT NULL,
	CONSTRAINT "chat_message_room_seq_uq" UNIQUE("room_id","seq"),
	CONSTRAINT "chat_message_type_check" CHECK ("chat_message"."type" in ('text', 'image', 'video', 'audio', 'document', 'system')),
	CONSTRAINT "chat_message_seq_check" CHECK ("chat_message"."seq" > 0)
);
--> statement-breakpoint
CREATE TABLE "chat_participant" (
	"room_id" uuid NOT NULL,
	"user_id" text NOT NULL,
	"role" text NOT NULL,
	"joined_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"last_read_seq" bigint DEFAULT 0 NOT NULL,
	"last_read_at" timestamp (3) with time zone,
	"last_delivered_seq" bigint DEFAULT 0 NOT NULL,
	"last_delivered_at" timestamp (3) with time zone,
	"muted" boolean DEFAULT false NOT NULL,
	"muted_until" timestamp (3) with time zone,
	CONSTRAINT "chat_participant_room_id_user_id_pk" PRIMARY KEY("room_id","user_id"),
	CONSTRAINT "chat_participant_role_check" CHECK ("chat_participant"."role" in ('owner', 'admin', 'member', 'agent')),
	CONSTRAINT "chat_participant_seq_check" CHECK ("chat_participant"."last_read_seq" >= 0 and "chat_participant"."last_delivered_seq" >= 0)
);
--> statement-breakpoint
CREATE TABLE "chat_room" (
	"id" uuid PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"name" text,
	"description" text,
	"business_id" text,
	"status" text,
	"created_by" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"last_seq" bigint DEFAULT 0 NOT NULL,
	"last_activity_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"direct_key" text,
	CONSTRAINT "chat_room_type_check" CHECK ("chat_room"."type" in ('direct', 'group', 'business', 'support')),
	CONSTRAINT "chat_room_status_check" CHECK (("chat_room"."type" = 'support') = ("chat_room"."status" is not null) and ("chat_room"."status" is null or "chat_room"."status" in ('open', 'closed'))),
	CONSTRAINT "chat_room_direct_key_check" CHECK (("chat_room"."type" = 'direct') = ("chat_room"."direct_key" is not null)),
	CONSTRAINT "chat_room_business_check" CHECK (("chat_room"."type" = 'business') = ("chat_room"."business_id" is not null))
);
--> statement-breakpoint
CREATE TABLE "chat_user" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text,
	"picture" text,
	"role" text DEFAULT 'user' NOT NULL,
	"last_seen_at" timestamp (3) with time zone,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "message_read_receipt" (
	"room_id" uuid NOT NULL,
	"user_id" text NOT NULL,
	"kind" text NOT NULL,
	"up_to_seq" bigint NOT NULL,
	"at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "message_read_receipt_room_id_user_id_kind_up_to_seq_pk" PRIMARY KEY("room_id","user_id","kind","up_to_seq"),
	CONSTRAINT "message_read_receipt_kind_check" CHECK ("message_read_receipt"."kind" in ('read', 'delivered'))
);
--> statement-breakpoint
ALTER TABLE "chat_message" ADD CONSTRAINT "chat_message_room_id_chat_room_id_fk" FOREIGN KEY ("room_id") REFERENCES "public"."chat_room"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_message" ADD CONSTRAINT "chat_message_reply_fk" FOREIGN KEY ("room_id","reply_to_seq") REFERENCES "public"."chat_message"("room_id","seq") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_participant" ADD CONSTRAINT "chat_participant_room_id_chat_room_id_fk" FOREIGN KEY ("room_id") REFERENCES "public"."chat_room"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "message_read_receipt" ADD CONSTRAINT "message_read_receipt_room_id_chat_room_id_fk" FOREIGN KEY ("room_id") REFERENCES "public"."chat_room"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "chat_message_client_id_uq" ON "chat_message" USING btree ("room_id","sender_id","client_message_id") WHERE "chat_message"."client_message_id" is not null;--> statement-breakpoint
CREATE INDEX "chat_message_search_idx" ON "chat_message" USING gin ("search_doc");--> statement-breakpoint
CREATE INDEX "chat_message_content_trgm_idx" ON "chat_message" USING gin ("content" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "chat_participant_user_idx" ON "chat_participant" USING btree ("user_id","room_id");--> statement-breakpoint
CREATE UNIQUE INDEX "chat_room_direct_key_uq" ON "chat_room" USING btree ("direct_key") WHERE "chat_room"."direct_key" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "chat_room_open_support_uq" ON "chat_room" USING btree ("created_by") WHERE "chat_room"."type" = 'support' and "chat_room"."status" = 'open';--> statement-breakpoint
CREATE INDEX "chat_room_support_queue_idx" ON "chat_room" USING btree ("status","last_activity_at" DESC NULLS LAST,"id" DESC NULLS LAST) WHERE "chat_room"."type" = 'support';