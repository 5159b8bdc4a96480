"""What both servers apply to credentials: their format and hashing, status seals, signing
keys. Pure (no I/O); may import models and contract, never routing (its sibling)."""
