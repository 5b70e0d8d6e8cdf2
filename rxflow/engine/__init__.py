"""The engine (private): graph entries compiled into reactivex operators, and their driver.

One module per entry kind: ``then`` (a step or map), ``parallel``, ``branch``, ``loop``,
``foreach``, ``sleep``, ``nested``; ``invoke`` runs one step invocation; ``program`` is the
driver loop over a workflow's entries, each of which is also an equivalent Rx operator.
"""
