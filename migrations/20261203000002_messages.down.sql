DROP TABLE messages;
DROP FUNCTION update_conversation_stats();
DROP FUNCTION ensure_message_partitions(INTEGER);
