-- Leased jobs (issue 16): several bot processes on one database. The process
-- carrying a job holds its lease and renews it while it works; a job whose
-- lease expired (its process died) is claimed by another process and resumed
-- exactly as a restarted process resumes it. NULL owner = anyone may claim it
-- (rows from before this migration).
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at REAL;

CREATE INDEX jobs_lease ON jobs (lease_expires_at)
    WHERE state NOT IN ('delivered', 'failed', 'cancelled', 'expired');
