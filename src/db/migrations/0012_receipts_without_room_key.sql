ALTER TABLE "message_read_receipt" DROP CONSTRAINT "message_read_receipt_room_id_chat_room_id_fk";
