"""The stepped run: locust as a library (one `Environment`, a `LocalRunner`), a step per user
count, the stack's resources sampled over each step. Imports locust (gevent monkey-patching):
`__main__` imports it only after the stack and the catalog item are ready."""

from __future__ import annotations

import time

import gevent  # type: ignore[import-untyped]
from locust.env import Environment

from scifikpi_tools.load import probes
from scifikpi_tools.load.figures import Step
from scifikpi_tools.load.stack import Target
from scifikpi_tools.load.users import CabinetUser, Shared

#: a user finishes its task (a payment it is making) before a stop: no half-paid payments
STOP_TIMEOUT_S = 30
#: how long a step waits for its new users to finish signing up before it measures anyway
SIGNUP_WAIT_S = 120


def _entry_name(name: str, method: str) -> str:
    return name if name.startswith(method + " ") else f"{method} {name}"


def run_steps(target: Target, steps: list[int], *, step_seconds: float, spawn_rate: float,
              log: bool = True) -> list[Step]:  # fmt: skip
    """Runs the steps; returns their figures (and leaves the users' flows in `Shared.flows`)."""
    Shared.localstripe_url = target.localstripe_url
    Shared.yookassa_url = target.yookassa_url
    env = Environment(user_classes=[CabinetUser], host=target.gateway_url,
                      stop_timeout=STOP_TIMEOUT_S)  # fmt: skip
    runner = env.create_local_runner()
    sampler = probes.CpuSampler()
    done: list[Step] = []
    try:
        for users in steps:
            runner.start(users, spawn_rate=spawn_rate)
            if runner.spawning_greenlet is not None:
                runner.spawning_greenlet.join()
            # the step measures the mix, not the arrival: wait for the new users' sign-ups
            deadline = time.monotonic() + SIGNUP_WAIT_S
            while Shared.settled < users and time.monotonic() < deadline:
                gevent.sleep(0.2)
            before = probes.probe(target.database_url, target.kafka_bootstrap_servers)
            backends = {
                int(pid): app for pid, app in before.get("database", {}).get("backends", {}).items()
            }
            pids = probes.stack_pids(target.gateway_url, target.root_pid)
            env.stats.reset_all()
            sampler.start(probes.labelled(pids, backends))
            gevent.sleep(step_seconds)
            cpu = sampler.stop()
            entries = [
                (_entry_name(e.name, e.method), e.num_requests, e.num_failures,
                 dict(e.response_times))
                for e in env.stats.entries.values()
            ]  # fmt: skip
            errors = {
                f"{_entry_name(e.name, e.method)}: {e.error}"[:200]: e.occurrences
                for e in env.stats.errors.values()
            }
            after = probes.probe(target.database_url, target.kafka_bootstrap_servers)
            step = Step.from_entries(users, step_seconds, entries)
            step.errors, step.cpu = errors, cpu
            db = after.get("database", {})
            step.db_connections = db.get("connections", {})
            step.db_max_connections = db.get("max_connections", 0)
            step.lag = after.get("lag", {})
            step.notes = [f"{k}: {v}" for k, v in after.items() if k.endswith("error")]
            step.notes.append(f"{len(pids)} stack processes, {len(backends)} database backends")
            with open("/proc/loadavg") as f:
                step.load_average = " ".join(f.read().split()[:3])
            done.append(step)
            if log:
                t = step.total
                print(
                    f"step {users} users: {t['rps']:.1f} req/s, {step.failures} failures, "
                    f"p99 " + ", ".join(f"{k} {f['p99_ms']:.0f} ms" for k, f in step.kinds.items()
                                        if k not in ("standin", "chain"))
                    + f"; load average {step.load_average}; " + "; ".join(step.notes), flush=True,
                )  # fmt: skip
    finally:
        runner.stop()
        runner.quit()
    return done
