-- Per-table autovacuum for Zhili's hot tables (deploy/postgresql/zhili.conf, docs/deploy.md "PostgreSQL").
-- Run once after `zhili db upgrade` (and again after a migration recreates one of these tables):
--   sudo -u postgres psql -d zhili -f /opt/zhili/share/postgresql/autovacuum.sql
-- Storage parameters only: no data is touched, each statement takes a brief lock.

-- the case timeline and the audit log: insert-mostly and large — vacuum after 5 % new rows (visibility map for
-- index-only scans, frozen early), analyze after 1-2 %
ALTER TABLE case_event  SET (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.01);
ALTER TABLE audit_event SET (autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02);
-- cases: every workflow action updates the row
ALTER TABLE "case"      SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.01,
                             fillfactor = 90);
-- IoT messages: inserted in batches all day, purged by age by the sweep
ALTER TABLE iot_message SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05);
-- a few rows updated on every intake or sweep (statistics upserts, case numbers, job leases, the outbox):
-- vacuum them often and without throttling, leave room on the page for HOT updates
ALTER TABLE case_stat      SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0, fillfactor = 80);
ALTER TABLE case_stat_unit SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0, fillfactor = 80);
ALTER TABLE case_counter   SET (autovacuum_vacuum_threshold = 200, autovacuum_vacuum_scale_factor = 0,
                                autovacuum_vacuum_cost_delay = 0, fillfactor = 50);
ALTER TABLE job_lock       SET (autovacuum_vacuum_threshold = 200, autovacuum_vacuum_scale_factor = 0,
                                autovacuum_vacuum_cost_delay = 0, fillfactor = 50);
ALTER TABLE notification   SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
