"""`make chaos`: flows keep running while the stack is broken in three phases, then the books.

    uv run python -m scifikpi_tools.chaos [--short] [--kill-rate 0.5] [--duration 120] [--seed N]

Phase 1 SIGKILLs random processes (every service's api, worker, relay, scheduler and the
gateway) at `--kill-rate` per second; the stack's supervisor restarts them. Phase 2 restarts
PostgreSQL with `pg_ctl restart -m immediate` halfway through. Phase 3 SIGKILLs the broker
(Tansu, memory only: it comes back with no topics, messages or offsets), restarts it on the same
port and recreates the topics as the stack does; the relays republish their retained outboxes
(scifikpi_common.republish). The run uses its own embedded PostgreSQL and its own Tansu, never
the machine's shared servers. After each phase it waits until everything converged and checks
the books; it prints, per phase, flows run, kills made, time to converge and the verdict, and
exits 1 if a phase failed. docs/chaos.md describes the checks.
"""
