"""The TAXII 2.1 HTTP layer: endpoints, media types, filters, cursors, errors.

Each module has one job; ``server.app.create_app`` wires them together.
"""
