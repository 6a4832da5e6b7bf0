-- PostgreSQL twin of ../0008_leases.sql (comments live there).
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at DOUBLE PRECISION;

CREATE INDEX jobs_lease ON jobs (lease_expires_at)
    WHERE state NOT IN ('delivered', 'failed', 'cancelled', 'expired');
