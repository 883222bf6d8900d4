-- The service before this migration reads conversations with a statement of its own.
DROP FUNCTION get_conversation(UUID, UUID, INTEGER);
