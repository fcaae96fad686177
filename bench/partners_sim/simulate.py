"""Driving the partners: a bounded pool of threads, each multiplexing its share of partners.

Thread ``t`` owns partners ``t, t + T, t + 2T...`` and keeps their next poll and
next publish in a heap; it sleeps until the earliest is due, does it, and
schedules the next one an interval later. A partner therefore never has two
requests in flight (as a real lab's poller would not), and a slow server makes
actions start late rather than pile up; how late is reported (``lag``), so an
overloaded client machine is visible rather than hidden in the latencies.

When the load phase ends every thread waits for the others (so every POST is
acknowledged or failed), then each partner makes one final sync of all its
collections: after it, every acknowledged object must be in the view of every
partner that can read its collection.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.partners_sim.cpu import Meters
from bench.partners_sim.plan import SimPlan
from bench.partners_sim.target import Target
from bench.partners_sim.traffic import PartnerClient, Recorder, SimPartner, make_partners

POLL, PUBLISH = "poll", "publish"


@dataclass
class SimRun:
    """What happened: the partners' state afterwards and every request's record."""

    plan: SimPlan
    partners: list[SimPartner]
    load: Recorder
    final: Recorder
    load_seconds: float = 0.0
    final_seconds: float = 0.0
    thread_failures: list[str] = field(default_factory=list)
    # CPU seconds (server processes, database backends) spent during the load phase.
    load_cpu_s: tuple[float, float] | None = None
    client_cpu_s: float = 0.0  # this process (the simulated partners) in the load phase
    polls_planned: int = 0  # polls due within the load phase, had none started late


def _load_thread(
    plan: SimPlan,
    target: Target,
    partners: list[SimPartner],
    recorder: Recorder,
    deadline: float,
    failures: list[str],
) -> None:
    client = PartnerClient(target.api_root_url(), target.verify, plan, recorder)
    queue: list[tuple[float, int, str]] = []
    start = time.monotonic()
    for index, partner in enumerate(partners):
        queue.append((start + partner.rng.uniform(0, plan.poll_interval_s), index, POLL))
        if partner.writes is not None:
            first = start + partner.rng.uniform(0, min(plan.publish_interval_s, plan.duration_s))
            queue.append((first, index, PUBLISH))
    heapq.heapify(queue)
    try:
        while queue:
            due, index, action = heapq.heappop(queue)
            if due >= deadline:
                continue
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # pacing the offered load, not synchronisation
            else:
                recorder.late(-wait)
            partner = partners[index]
            if action == POLL:
                client.poll(partner)
                interval = plan.poll_interval_s
            else:
                client.publish(partner)
                interval = plan.publish_interval_s
            heapq.heappush(queue, (max(due + interval, time.monotonic()), index, action))
    except Exception as error:  # a bug in the simulation must not pass for a quiet server
        failures.append(f"load thread: {type(error).__name__}: {error}")
    finally:
        client.close()


def _final_thread(
    plan: SimPlan,
    target: Target,
    partners: list[SimPartner],
    recorder: Recorder,
    failures: list[str],
) -> None:
    client = PartnerClient(target.api_root_url(), target.verify, plan, recorder)
    try:
        for partner in partners:
            client.poll(partner, manifests=False)
    except Exception as error:
        failures.append(f"final sync: {type(error).__name__}: {error}")
    finally:
        client.close()


def _in_threads(
    plan: SimPlan, partners: list[SimPartner], run: Callable[[list[SimPartner]], None]
) -> None:
    threads = [
        threading.Thread(target=run, args=(partners[t :: plan.threads],), daemon=True)
        for t in range(min(plan.threads, len(partners)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Hang guard: a request times out after REQUEST_TIMEOUT_S, so this is generous.
        thread.join(timeout=plan.duration_s + 3600)
        if thread.is_alive():
            raise RuntimeError("a client thread did not finish within an hour of the deadline")


def simulate(plan: SimPlan, target: Target) -> SimRun:
    """The load phase for ``plan.duration_s``, then one final sync per partner."""
    partners = make_partners(plan, target.collection_ids, target.keys)
    run = SimRun(plan, partners, Recorder(), Recorder())
    meters = (
        Meters(target.server_pids, target.database_urls, target.postmaster_pids)
        if target.server_pids and target.database_urls
        else None
    )
    cpu_before = meters.read() if meters else None
    client_before = time.process_time()
    started = time.monotonic()
    deadline = started + plan.duration_s
    _in_threads(
        plan,
        partners,
        lambda mine: _load_thread(plan, target, mine, run.load, deadline, run.thread_failures),
    )
    run.load_seconds = time.monotonic() - started
    run.client_cpu_s = time.process_time() - client_before
    run.polls_planned = round(plan.partners * plan.duration_s / plan.poll_interval_s)
    if target.settle is not None:
        target.settle()
    if meters and cpu_before:
        cpu_after = meters.read()
        run.load_cpu_s = (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1])
    started = time.monotonic()
    _in_threads(
        plan,
        partners,
        lambda mine: _final_thread(plan, target, mine, run.final, run.thread_failures),
    )
    run.final_seconds = time.monotonic() - started
    return run
