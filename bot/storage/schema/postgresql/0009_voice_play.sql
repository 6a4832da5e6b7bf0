-- PostgreSQL twin of ../0009_voice_play.sql (comments live there).
ALTER TABLE jobs ADD COLUMN play_requested_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN play_done_at DOUBLE PRECISION;

CREATE INDEX jobs_play_pending ON jobs (play_requested_at)
    WHERE play_requested_at IS NOT NULL AND play_done_at IS NULL;
