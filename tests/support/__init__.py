"""What the tests share: real servers, real labs, free ports.

* ``tests.support.ports``: loopback ports that no other test, pytest-xdist
  worker or client connection takes;
* ``tests.support.server``: a server process (gunicorn) on SQLite or a fresh
  PostgreSQL database, seeded through the store, and a ``requests`` client;
* ``tests.support.exchange``: an exchange configured only through the
  ``dx server`` commands, and labs that run the ``dx`` commands as
  subprocesses with their own lab.toml, store and artifacts.
"""
