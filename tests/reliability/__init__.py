"""Reliability tests: crashes, load, hostile input, access control, data safety."""
