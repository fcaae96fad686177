"""Lab-side toolkit: turn detections into STIX, talk TAXII to the exchange, act on the feed."""
