-- Local stack only (docker-compose.yml): runs once, when the Postgres data directory is empty.
-- One login role and one schema per service (docs/adr/0003-schema-per-service.md): a service's
-- role owns its schema and cannot read or write another service's. Production gets the same shape
-- from the Helm chart (CloudNativePG managed roles + Database schemas).
--
-- CONNECT/CREATE on the database: each service's Alembic env runs
-- `CREATE SCHEMA IF NOT EXISTS <svc>` before migrating, and Postgres checks the CREATE privilege
-- even when the schema already exists.
--
-- Passwords here are development placeholders (the stack runs with ENVIRONMENT=local).

\set ON_ERROR_STOP on

-- Nobody but a schema's owner creates objects in `public` (Postgres 15 default, made explicit).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- auth ------------------------------------------------------------------------------------------
CREATE ROLE auth LOGIN PASSWORD 'auth';
CREATE SCHEMA auth AUTHORIZATION auth;
ALTER ROLE auth SET search_path = auth;
DO $$ BEGIN EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO auth', current_database()); END $$;

-- payments --------------------------------------------------------------------------------------
CREATE ROLE payments LOGIN PASSWORD 'payments';
CREATE SCHEMA payments AUTHORIZATION payments;
ALTER ROLE payments SET search_path = payments;
DO $$ BEGIN EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO payments', current_database()); END $$;

-- mining ----------------------------------------------------------------------------------------
CREATE ROLE mining LOGIN PASSWORD 'mining';
CREATE SCHEMA mining AUTHORIZATION mining;
ALTER ROLE mining SET search_path = mining;
DO $$ BEGIN EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO mining', current_database()); END $$;

-- ledger ----------------------------------------------------------------------------------------
CREATE ROLE ledger LOGIN PASSWORD 'ledger';
CREATE SCHEMA ledger AUTHORIZATION ledger;
ALTER ROLE ledger SET search_path = ledger;
DO $$ BEGIN EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO ledger', current_database()); END $$;

-- nft -------------------------------------------------------------------------------------------
CREATE ROLE nft LOGIN PASSWORD 'nft';
CREATE SCHEMA nft AUTHORIZATION nft;
ALTER ROLE nft SET search_path = nft;
DO $$ BEGIN EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO nft', current_database()); END $$;
-- The emulated TON chain of NFT_TON_NETWORK=local (the compose default): the nft processes run
-- `CREATE SCHEMA IF NOT EXISTS ton_local` and its tables themselves (nft.ton.local, not Alembic);
-- the schema is made here, owned by the nft role, so that always succeeds. Unused on testnet/mainnet.
CREATE SCHEMA ton_local AUTHORIZATION nft;

-- analytics -------------------------------------------------------------------------------------
-- Reads only the topics (never another schema): its role owns its own projection and nothing else.
CREATE ROLE analytics LOGIN PASSWORD 'analytics';
CREATE SCHEMA analytics AUTHORIZATION analytics;
ALTER ROLE analytics SET search_path = analytics;
DO $$ BEGIN EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO analytics', current_database()); END $$;

-- Next service: copy the four lines of a service above (role, schema, search_path, grant) with its
-- name.
--
-- A data directory initialised before a service was added never re-runs this file: add the
-- service's four lines by hand (`docker compose exec postgres psql -U postgres -d scifikpi`), or
-- start over with `docker compose down -v`.
