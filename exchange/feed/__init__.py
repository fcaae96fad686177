"""The lab's copy of the shared feed: poll it, keep it, act on it, export from it.

``store`` keeps every object version the lab has received (and the cursor of
each collection, committed with the objects it covers); ``poller`` fills it
over TAXII; ``artifacts`` turns its current state into the files enforcement
systems read; ``export`` cuts self-contained bundles out of it (or out of the
server) for analysts.
"""
