"""The gateway: aiohttp servers, watched state, the auth pipeline, sessions, proxy, limits.
May import every layer below it (decisions, trust, routing, models, contract); never gatepass.operator."""
