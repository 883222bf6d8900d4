ALTER INDEX idx_conversations_title_search RESET (fastupdate);
