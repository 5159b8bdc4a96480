"""What a ServiceToken needs now: gather, decide, apply.

The operator gathers what it knows of a token into :class:`~.inputs.Observed` (the
token parsed at the edge, its Secret described without the secret, the gateway's
reports, the policy index, the rollout it follows, the clock), calls
:func:`~.plan.plan`, and carries out the returned :class:`~.plan.Plan` in order:
the pending status, the Secret write, the final status, the rollout, the Events.
The executor decides nothing: what a refused write or a spec that does not parse
means is decided here too (:mod:`.refusals`). Nothing here does I/O or sees a
secret value: the Secret is described by the hash of what it holds, and the
candidate by the hash of its secret.

Crash safety. A new secret is written in three steps: status gets
``pendingSecretHash``, then the Secret gets the secret, then status gets the final
fields. After a crash:

* Secret holds the pending secret -> finish the issuance (``FINALIZE``), no new
  credential;
* Secret does not -> it was never delivered; forget it and decide afresh;
* Secret holds something that matches neither -> tampered: reissue.

Status itself may be written by tenants (``*`` on the API group includes status).
The operator seals what it writes (trust/seal.py); a status whose seal does not
verify is read as if its credential record were lost (:func:`~.inputs.distrust`),
so the token gets new credentials and nothing a tenant wrote is ever sealed.

The decisions are named chains of checks of one signature (:mod:`.chains`): the
first that answers decides, as in cert-manager's certificate policy chains.

Modules: inputs (what is decided over), chains (the check signature), credentials
(which secret action), lifetime (use, refresh, grace, rotation, wake time),
conditions (Ready, ExpiringSoon, InactiveSoon), secret (the Secret write), restarts
(spec.rollout), refusals (refused writes, invalid specs), plan (the whole decision).
"""
