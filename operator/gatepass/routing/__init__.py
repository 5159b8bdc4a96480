"""What both servers apply to requests: who owns a host, path matching, upstream allow-list,
the client address behind trusted proxies. Pure (no I/O); may import models and contract, never trust."""
