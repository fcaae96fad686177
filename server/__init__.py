"""The exchange's TAXII 2.1 server and its durable store."""
