"""Pure decisions per resource (what a token or application needs now): no I/O, no clock of
their own. May import trust, routing, models and contract."""
