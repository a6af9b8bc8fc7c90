"""The restore drill: `make restore-drill` (`python -m scifikpi_tools.restore`).

Proves that the backups the chart configures (CloudNativePG's Barman Cloud plugin: WAL archiving
and base backups to S3 with barman-cloud, `<destinationPath>/<serverName>/base/...` and
`/wals/...`) give back the data at a point in time:

1. an S3 endpoint (moto's server) and a bucket; a PostgreSQL 15 cluster of its own
   (`cluster`), `archive_command = barman-cloud-wal-archive`, `archive_timeout` short;
2. the whole stack on it (migrations, every process, localstripe), and real journeys through
   the gateway (`flows`): pay with Stripe, mine, accelerate, buy an NFT;
3. batch a, then `barman-cloud-backup`, batch b, the target time T (a snapshot of every row of
   the money/points/ownership tables taken at that instant), batch c;
4. the archive lag of the last commit (the data-loss window), then the server stops;
5. `barman-cloud-restore` into a fresh data dir, `restore_command = barman-cloud-wal-restore`,
   `recovery_target_time = T`, promote; the restore time is measured;
6. the copy holds exactly the rows of T (none of batch c), `ledger-admin check` is clean, and
   the services' APIs started on the copy (after their migrations) serve the balances,
   sessions and purchases of batches a and b; batch c's users do not exist.

docs/runbooks/restore.md is the procedure on Kubernetes; the figures it states come from here.
"""
