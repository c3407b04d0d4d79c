"""Front doors: the wire formats clients speak besides OpenAI's (Anthropic Messages, ...).

A door is a translator beside :mod:`gwd.providers`, facing the other way: it turns
the client's request into the internal call (an OpenAI-shaped
:class:`~gwd.schema.CallRequest`, so keys, the models rule, aliases, budgets,
failover, spend and logs are the ones chat has) and the internal answer back into
the client's format. The proxy keeps one path; it only asks the call's door (see
:class:`~gwd.doors.base.Door`) which provider to use for a deployment, how to
render a non-streamed answer and how to frame stream events.
"""
