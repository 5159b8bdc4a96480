"""The operator: kopf handlers, work queues, reconcilers (read, decide, write), its API door.
May import every layer below it (decisions, trust, routing, models, contract); never gatepass.gateway."""
