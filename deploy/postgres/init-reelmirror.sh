#!/bin/sh
# Runs once, when the data volume is new: a role and a database for the workers' shared secret store,
# apart from Temporal's databases, so a worker's credentials reach nothing of Temporal's.
set -eu
: "${REELMIRROR_DB_PASSWORD:?set REELMIRROR_DB_PASSWORD in deploy/env/postgres.env}"
psql -v ON_ERROR_STOP=1 -v pw="$REELMIRROR_DB_PASSWORD" --username "$POSTGRES_USER" --dbname postgres <<'SQL'
CREATE ROLE reelmirror LOGIN PASSWORD :'pw';
CREATE DATABASE reelmirror OWNER reelmirror;
REVOKE ALL ON DATABASE reelmirror FROM PUBLIC;
SQL
