"""The engine (private): graph entries compiled into reactivex operators, and their driver.

One module per entry kind: ``then`` (a step or map), ``parallel``, ``branch``, ``loop``,
``foreach``, ``sleep``, ``nested``; ``invoke`` compiles a step (its way of running chosen
once, in ``strategies``) and runs its invocations (``call``, ``report``, ``retry``);
``program`` is the driver loop over a workflow's entries, each of which is also an equivalent
Rx operator.
"""
