CREATE TABLE "notification_delivery" (
	"id" uuid PRIMARY KEY NOT NULL,
	"notification_id" uuid NOT NULL,
	"channel" text NOT NULL,
	"subscription_id" uuid,
	"payload" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "notification_delivery_channel_check" CHECK (("notification_delivery"."channel" = 'push') = ("notification_delivery"."subscription_id" is not null) and "notification_delivery"."channel" in ('push', 'webhook'))
);
--> statement-breakpoint
CREATE TABLE "notification_outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"room_id" uuid NOT NULL,
	"room_type" text NOT NULL,
	"first_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"count" integer DEFAULT 1 NOT NULL,
	"mentioned" boolean DEFAULT false NOT NULL,
	"message_ids" uuid[] NOT NULL,
	"last_seq" bigint NOT NULL,
	"sender_id" text NOT NULL,
	"preview" text NOT NULL,
	"claimed_until" timestamp (3) with time zone
);
--> statement-breakpoint
CREATE TABLE "push_subscription" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"endpoint" text NOT NULL,
	"p256dh" text NOT NULL,
	"auth" text NOT NULL,
	"expires_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "notification_delivery" ADD CONSTRAINT "notification_delivery_subscription_id_push_subscription_id_fk" FOREIGN KEY ("subscription_id") REFERENCES "public"."push_subscription"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "notification_outbox" ADD CONSTRAINT "notification_outbox_room_id_chat_room_id_fk" FOREIGN KEY ("room_id") REFERENCES "public"."chat_room"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "notification_delivery_due_idx" ON "notification_delivery" USING btree ("next_attempt_at");--> statement-breakpoint
CREATE UNIQUE INDEX "notification_outbox_open_uq" ON "notification_outbox" USING btree ("user_id","room_id") WHERE "notification_outbox"."claimed_until" is null;--> statement-breakpoint
CREATE INDEX "notification_outbox_open_idx" ON "notification_outbox" USING btree ("first_at") WHERE "notification_outbox"."claimed_until" is null;--> statement-breakpoint
CREATE INDEX "notification_outbox_claimed_idx" ON "notification_outbox" USING btree ("claimed_until") WHERE "notification_outbox"."claimed_until" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "push_subscription_endpoint_uq" ON "push_subscription" USING btree ("endpoint");--> statement-breakpoint
CREATE INDEX "push_subscription_user_idx" ON "push_subscription" USING btree ("user_id","updated_at");