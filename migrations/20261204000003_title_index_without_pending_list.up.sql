-- Every search reads the title index, and a GIN index scan reads the whole of its pending
-- list: the entries that fastupdate queues for a later merge instead of placing them at once.
-- Appends fill that list although no title changes: each message updates its conversation's
-- statistics, that update cannot be a HOT update (updated_at is indexed), so every index of
-- the row, the title index among them, gets entries for the new row version. After 21,000
-- appends the list held 426 pages, a dozen milliseconds of reading for every search; the
-- heavy user's searches right after such a burst had a p99 of 52 to 90 ms with the list and
-- of 39 to 44 ms without it.
--
-- Without fastupdate, an append places its few title entries (the user id and the title's
-- words) in the index directly, which costs it a handful of page changes, too few to show
-- beside the noise of the benchmark's appends. The message index keeps its pending list: a
-- message brings dozens of entries, and placing them at once would cost appends far more.
ALTER INDEX idx_conversations_title_search SET (fastupdate = off);

-- Turning it off leaves the entries already queued; merge them now rather than at the next
-- vacuum.
SELECT gin_clean_pending_list('idx_conversations_title_search'::regclass);
