-- Smart polling (issue 15): the adaptive interval a feed's poller has reached, and the longest
-- wait its last full document asked for (`<ttl>`, `<sy:updatePeriod>`), so a restart resumes
-- the schedule (with `next_poll_at`) and a 304 still honours the document's hint. NULL: not
-- known yet (the configured interval, no hint).
ALTER TABLE feeds ADD COLUMN poll_interval_ms INTEGER;
ALTER TABLE feeds ADD COLUMN feed_hint_secs INTEGER;
