-- Stories shared by the instances (issues 12 and 16). Every change to a story's state (an item
-- filed, an alert state, a newcomer waiting or sent) stamps the story with the next value of
-- `story_change`, so an instance reads back only the stories others changed since it last
-- looked; `story_marks` keeps the clusterer's next slot, so slot numbers never go back when the
-- fingerprints of a quiet window have all been pruned. Both are written under the story lock
-- (`pg_advisory_lock`), which orders the instances' story filing.
CREATE SEQUENCE story_change;
ALTER TABLE stories ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX stories_change ON stories(change_seq);
CREATE TABLE story_marks (
    id        SMALLINT PRIMARY KEY CHECK (id = 1),
    next_slot BIGINT NOT NULL
);
INSERT INTO story_marks (id, next_slot) SELECT 1, COALESCE(MAX(slot), -1) + 1 FROM story_prints;
