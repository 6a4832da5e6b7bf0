-- Voice playback across processes (issue 16). play_requested_at: the member
-- asked to hear the job in their voice channel (/say play:true). Only the
-- process running the server's gateway shard holds its voice connection, so
-- while such a job is unfinished and not yet handed to voice, only a process
-- running that shard claims it (any process once its lease has been expired
-- for the pin bound). play_done_at: voice got it (queued, refused, or given
-- up) — written once, by a compare-and-set, so it plays once.
ALTER TABLE jobs ADD COLUMN play_requested_at REAL;
ALTER TABLE jobs ADD COLUMN play_done_at REAL;

CREATE INDEX jobs_play_pending ON jobs (play_requested_at)
    WHERE play_requested_at IS NOT NULL AND play_done_at IS NULL;
