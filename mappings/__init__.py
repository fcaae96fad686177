"""Pure mappings between detection records and STIX 2.1 objects (no I/O)."""
