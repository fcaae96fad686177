"""A bounded local load test that simulates many partner labs against one exchange.

Each simulated partner has its own credentials, its own grants and its own
``added_after`` cursor per collection, and does what a lab's poller and
publisher do: list the collections, read each readable collection from its
cursor (following ``next`` while ``more``), now and then read the manifest,
and, for the publishing share of partners, POST envelopes and read the status
back. Time is compressed: a partner that polls every M minutes in real life
polls every ``60 * M / time_scale`` seconds here.

A bounded pool of client threads multiplexes the partners, so a thousand
partners need no thousand threads; the run is bounded in time (``--duration``)
and in count (``--partners``) and talks only to loopback.

Run it with ``python3 -m bench.partners_sim --help``; ``docs/scaling.md``
explains the figures it prints.
"""
