"""`make chaos`: flows keep running while the stack is broken in three phases, then the books.

    uv run python -m scifikpi_tools.chaos [--short] [--kill-rate 0.5] [--duration 120] [--seed N]

The flows (`flows.py`) are users: register, pay the deposit at localstripe, mine, pay an
acceleration, then buy NFTs from the phase's own catalog item (a small supply, a price only two
purchases fit). Phase 1 SIGKILLs random service processes (every service's api, worker, relay,
scheduler and the gateway; payments and nft ones more often) at `--kill-rate` per second; the
stack's supervisor restarts them. Phase 2 restarts PostgreSQL with `pg_ctl restart -m immediate`
halfway through. Phase 3 SIGKILLs the broker (Tansu, memory only: it comes back with no topics,
messages or offsets), restarts it on the same port and recreates the topics as the stack does;
the relays republish their retained outboxes (scifikpi_common.republish). The run uses its own
embedded PostgreSQL and its own Tansu, never the machine's shared servers. After each phase it
waits until everything converged and checks the books (`books.py`, `nftbooks.py`, `chain.py`);
it prints, per phase, flows run, kills made, time to converge, the verdict and what the books
saw, and exits 1 if a phase failed. docs/chaos.md describes the checks.
"""
